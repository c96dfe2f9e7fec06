"""`EventPublisher` against a real Redis: the publishes of one turn of the event
loop leave in one pipeline with one announcement, in order per project; a Redis
that does not answer loses nothing that replay cannot repair."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from actors.publisher import EventPublisher
from domain.events import Event, EventType
from storage.breaker import fast_redis

pytestmark = pytest.mark.timeout(30)

WAKE = "test:wake"


def _events(project_id: uuid.UUID, versions: range) -> list[Event]:
    now = datetime.now(UTC)
    actor = uuid.uuid4()
    return [
        Event(project_id, v, EventType.TASK_UPDATED, actor, None, {"n": v}, now) for v in versions
    ]


async def _received(pubsub: Any, count: int) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    async with asyncio.timeout(5):
        while len(got) < count:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                got.append((message["channel"].decode(), message["data"]))
    return got


async def test_one_turns_publishes_share_a_pipeline_and_an_announcement(redis_url: str) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    client = aioredis.from_url(redis_url)
    pubsub = client.pubsub()
    await pubsub.subscribe(f"project:{a}", f"project:{b}", WAKE)
    publisher = EventPublisher(fast_redis(redis_url), WAKE)
    try:
        await asyncio.gather(
            publisher.publish(a, _events(a, range(1, 4))),
            publisher.publish(b, _events(b, range(7, 8))),
        )
        assert publisher.pipelines == 1
        got = await _received(pubsub, 5)
        by_channel: dict[str, list[Any]] = {}
        for channel, data in got:
            by_channel.setdefault(channel, []).append(data)
        assert [orjson.loads(d)["version"] for d in by_channel[f"project:{a}"]] == [1, 2, 3]
        assert [orjson.loads(d)["version"] for d in by_channel[f"project:{b}"]] == [7]
        assert by_channel[WAKE] == [f"{a} {b}".encode()]
        assert got[-1][0] == WAKE  # announced after the events it names

        # A later turn: a pipeline of its own.
        await publisher.publish(a, _events(a, range(4, 5)))
        assert publisher.pipelines == 2
        got = await _received(pubsub, 2)
        assert [c for c, _ in got] == [f"project:{a}", WAKE]
        assert publisher.unpublished == {}
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()


async def test_a_redis_that_does_not_answer_leaves_the_last_event_to_send_again() -> None:
    down = fast_redis("redis://127.0.0.1:1/0")  # nothing listens there
    publisher = EventPublisher(down, WAKE)
    a, b = uuid.uuid4(), uuid.uuid4()
    sent_a, sent_b = _events(a, range(1, 3)), _events(b, range(5, 6))
    # Never raises: the commit is already done, subscribers replay by version.
    await asyncio.gather(publisher.publish(a, sent_a), publisher.publish(b, sent_b))
    assert publisher.unpublished == {a: sent_a[-1], b: sent_b[-1]}
    await publisher.republish()  # still down: kept for later
    assert publisher.unpublished == {a: sent_a[-1], b: sent_b[-1]}
