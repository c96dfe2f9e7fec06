"""Reports as CSV: one header line, then one line per row. Pure.

Numbers are written as JSON writes them (`10.5`, not `Decimal('10.5')`) and a
missing value as an empty field, so a spreadsheet reads the file as it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def to_csv(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def burndown_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{**d, "scope_changes": len(d["scope_changes"])} for d in report["days"]]


def flow_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (day, status): long format, which every tool can pivot."""
    return [
        {
            "date": d["date"],
            "status": status,
            "count": d["counts"][status],
            "estimate": d["estimates"][status],
        }
        for d in report["days"]
        for status in report["statuses"]
    ]
