"""Analytics: the reports consumer of the outbox and the reports computed from it.

- `consumer`: folds committed events into the `report_*` tables (`ReportsConfig`
  is registered with the outbox relay); `rebuild`: the same fold over a whole
  event log (`taskhive reports rebuild`).
- `fold`: events → interval, day-tally, sprint, scope and flow changes (pure).
- `burndown`, `flow`, `cycle`, `dashboard`, `export`: the reports themselves
  (pure), and `days`: what a project's local day is.

See docs/reports.md.
"""
