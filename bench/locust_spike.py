"""The sprint-planning spike: the everyday mix, then a team planning a sprint at once.

    BENCH_DATA=seeded.json BENCH_THINK_S=1,3 locust -f bench/locust_spike.py \\
        --headless --host http://127.0.0.1:8000

Stages (users; `SPIKE_BASE` scales them, default 20; `SPIKE_SCALE` scales the
durations, default 1): everyday traffic with
boards open, then five times as many users of whom most are planners (moving
cards, creating and re-prioritising tasks, reloading the board), then back to
everyday traffic. The run stops by itself after the last stage. Latencies per
request name are in locust's own statistics (`--csv`), as for any run.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any, cast

from locust import LoadTestShape
from locustfile import PROJECTS, BoardWatcher, TaskhiveUser, _ApiUser, pick_project


class PlannerUser(_ApiUser):  # type: ignore[misc]  # locustfile is found at run time
    """Someone in a planning session: the board, moves, new tasks, priorities."""

    weight = 12  # with TaskhiveUser's 4 and BoardWatcher's 1: most spike users plan

    tasks = {
        _ApiUser.board: 25,
        _ApiUser.move: 30,
        _ApiUser.create_task: 15,
        _ApiUser.edit_fields: 15,
        _ApiUser.update_status: 10,
        _ApiUser.get_task: 5,
    }

    def board(self) -> None:
        """Mostly the hottest board: the one the team is planning on."""
        project = PROJECTS[0] if random.random() < 0.8 else pick_project(with_tasks=False)
        self._get(f"/api/v1/projects/{project['id']}/board?limit=50", "read: board")


class SprintPlanningSpike(LoadTestShape):
    """(until second, users, spawn rate, user classes) per stage."""

    base = int(os.environ.get("SPIKE_BASE", "20"))
    scale = float(os.environ.get("SPIKE_SCALE", "1"))  # 0.2: the same spike in 42 s
    stages: tuple[tuple[float, int, float, list[type[Any]]], ...] = (
        (60 * scale, base, base / 5 / scale, [TaskhiveUser, BoardWatcher]),
        (150 * scale, base * 5, base / scale, [TaskhiveUser, PlannerUser, BoardWatcher]),
        (210 * scale, base, base / scale, [TaskhiveUser, BoardWatcher]),
    )

    def tick(self) -> tuple[int, float, list[type[Any]]] | None:
        now = cast(Callable[[], float], self.get_run_time)()
        for until, users, rate, classes in self.stages:
            if now < until:
                return users, rate, classes
        return None
