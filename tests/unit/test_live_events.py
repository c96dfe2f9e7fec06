"""A published event is decoded once per replica and its message encoded once,
whatever the number of sessions it goes to, and reads the same as a replayed one."""

from __future__ import annotations

import orjson

from realtime.protocol import event_message
from realtime.session import _decode_live, _encoded

EVENT = {
    "project_id": "p",
    "version": 7,
    "event": "task.updated",
    "payload": {"id": "t", "changes": {"status": ["todo", "done"]}},
    "created_at": "2026-11-29T10:00:00+00:00",
}


def test_one_message_is_decoded_and_encoded_once_for_every_session() -> None:
    data = orjson.dumps(EVENT)
    first, second = _decode_live(data), _decode_live(data)
    assert first is second
    assert _encoded(first) is _encoded(second)
    assert orjson.loads(_encoded(first)) == event_message(EVENT)


def test_a_new_message_is_decoded_anew() -> None:
    first = _decode_live(orjson.dumps(EVENT))
    later = _decode_live(orjson.dumps(EVENT | {"version": 8}))
    assert later is not first and later["version"] == 8
    assert orjson.loads(_encoded(later))["version"] == 8


def test_a_replayed_event_reads_like_a_live_one() -> None:
    live = _decode_live(orjson.dumps(EVENT))
    assert _encoded(dict(EVENT)) == _encoded(live)


def test_the_fan_out_lag_counts_from_the_commit() -> None:
    from datetime import UTC, datetime, timedelta

    from realtime.session import _lag_s

    committed = (datetime.now(UTC) - timedelta(seconds=3)).isoformat()
    live = _decode_live(orjson.dumps(EVENT | {"created_at": committed}))
    assert 2.9 < _lag_s(live) < 10
    assert 2.9 < _lag_s(live | {}) < 10  # a replayed copy, parsed each time
