"""Running Taskhive: settings (`TASKHIVE_*`), the `taskhive` CLI, the stack launcher."""
