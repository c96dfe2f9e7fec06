"""The event consumers (search indexing, notifications, reports, webhooks) are
eventually consistent: they run at a lower CPU priority than the processes that
answer requests (`TASKHIVE_BACKGROUND_NICE`)."""

from __future__ import annotations

import concurrent.futures
import os
from typing import Any

import ray

from actors.outbox import ACTOR_NAME as OUTBOX_ACTOR
from actors.router import NAMESPACE
from cluster.stack import Stack


def _niceness(actor: Any) -> tuple[int, int]:
    """(the process's main thread, the actor's event loop thread), on Linux where
    niceness is per thread. Runs in the actor's process (`__ray_call__`)."""
    loop = actor._tasks[0].get_loop()
    answer: concurrent.futures.Future[int] = concurrent.futures.Future()
    loop.call_soon_threadsafe(lambda: answer.set_result(os.getpriority(os.PRIO_PROCESS, 0)))
    return os.getpriority(os.PRIO_PROCESS, os.getpid()), answer.result(timeout=10)


async def test_the_event_consumers_run_below_the_request_path_in_cpu_priority(
    stack: Stack,
) -> None:
    outbox = ray.get_actor(OUTBOX_ACTOR, namespace=NAMESPACE)
    main, loop = await outbox.__ray_call__.remote(_niceness)
    assert stack.settings.background_nice == 5
    assert loop == min(19, main + 5) and loop > main
