"""Percentiles, CSV rendering, the dashboard's sections and time zone validation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from domain.errors import InvalidInput
from domain.projects import check_time_zone
from reports.cycle import percentile
from reports.dashboard import dashboard
from reports.export import to_csv
from storage.report_dashboard import ProjectInfo, TaskLine

WORKFLOW = {
    "statuses": [
        {"id": "todo", "category": "todo"},
        {"id": "doing", "category": "in_progress"},
        {"id": "shipped", "category": "done"},
    ]
}


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 100) == 5.0
    assert percentile([float(x) for x in range(21)], 85) == 17.0


def test_csv_writes_plain_numbers_and_empty_cells() -> None:
    text = to_csv(["a", "b", "c"], [{"a": 10.0, "b": None, "c": "x,y"}, {"a": 2.5, "b": True}])
    assert text == 'a,b,c\r\n10,,"x,y"\r\n2.5,true,\r\n'


def _task(project: ProjectInfo, status: str, priority: str, due: date | None) -> TaskLine:
    return TaskLine(
        uuid4(), f"K-{uuid4().hex[:4]}", "t", project.id, status, priority, due, datetime.now(UTC)
    )


def test_dashboard_uses_each_projects_workflow_and_today() -> None:
    p = ProjectInfo(uuid4(), "K", "Kay", "UTC", WORKFLOW)
    wednesday = date(2026, 6, 3)
    mine = [
        _task(p, "todo", "high", date(2026, 6, 1)),  # overdue
        _task(p, "doing", "urgent", date(2026, 6, 7)),  # due Sunday: this week
        _task(p, "todo", "none", date(2026, 6, 8)),  # next week
        _task(p, "shipped", "high", date(2026, 6, 1)),  # done: neither
    ]
    body = dashboard(
        projects=[p],
        today={p.id: wednesday},
        mine=mine,
        truncated=False,
        recent=[],
        counts={p.id: {"todo": 2, "doing": 1, "shipped": 4}},
        sprints=[],
    )
    assert body["my_open_tasks"]["by_priority"] == {
        "urgent": 1,
        "high": 1,
        "medium": 0,
        "low": 0,
        "none": 1,
    }
    assert [t["id"] for t in body["overdue"]["tasks"]] == [str(mine[0].id)]
    assert [t["id"] for t in body["due_this_week"]["tasks"]] == [str(mine[1].id)]
    health = body["projects"][0]
    assert (health["open"], health["in_progress"], health["done"]) == (2, 1, 4)


@pytest.mark.parametrize("name", ["Mars/Base", "localtime", "", "utc ", "x" * 65])
def test_unknown_time_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_time_zone(name)


def test_known_time_zones_are_kept() -> None:
    assert check_time_zone("Asia/Kathmandu") == "Asia/Kathmandu"
