"""Analytics: burndown, flow and cycle-time reports (not built yet)."""
