"""Recipient rules: who hears of an event, of what, and never the actor."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from domain import notifications as rules
from domain.notifications import Kind, Notice

ANN, BOB, CY, DEE = (uuid.UUID(int=i) for i in range(1, 5))


def task_json(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.UUID(int=99)),
        "key": "WEB-7",
        "title": "Fix login",
        "description": "",
        "status": "open",
        "assignee_id": None,
        "reporter_id": str(ANN),
    }
    body.update(over)
    return body


def created(**over: Any) -> tuple[str, dict[str, Any]]:
    return rules.TASK_CREATED, {"task": task_json(**over)}


def updated(**changes: Any) -> tuple[str, dict[str, Any]]:
    return rules.TASK_UPDATED, {"task_id": str(uuid.UUID(int=99)), "changes": changes}


def kinds(notices: list[Notice]) -> dict[uuid.UUID, Kind]:
    return {n.user_id: n.kind for n in notices}


def test_create_notifies_the_assignee_not_the_reporter_who_acted() -> None:
    event, payload = created(assignee_id=str(BOB))
    assert kinds(rules.notices_for(event, ANN, payload, before=None)) == {BOB: Kind.ASSIGNED}


def test_self_assignment_notifies_nobody() -> None:
    event, payload = created(assignee_id=str(ANN))
    assert rules.notices_for(event, ANN, payload, before=None) == []


def test_assignment_on_update_beats_watching() -> None:
    before = rules.fold_task([created(assignee_id=str(CY))])
    event, payload = updated(assignee_id=str(BOB))
    got = kinds(rules.notices_for(event, DEE, payload, before=before))
    # Bob is assigned; the reporter and the previous assignee hear of the update.
    assert got == {BOB: Kind.ASSIGNED, ANN: Kind.UPDATED, CY: Kind.UPDATED}


def test_update_by_the_assignee_tells_the_reporter_only() -> None:
    before = rules.fold_task([created(assignee_id=str(BOB))])
    event, payload = updated(status="done")
    assert kinds(rules.notices_for(event, BOB, payload, before=before)) == {ANN: Kind.UPDATED}


def test_explicit_watchers_hear_of_updates_but_not_the_actor() -> None:
    before = rules.fold_task([created()])
    event, payload = updated(title="New title")
    got = kinds(rules.notices_for(event, ANN, payload, before=before, watchers=[CY, ANN]))
    assert got == {CY: Kind.UPDATED}


def test_mention_is_more_specific_than_watching_and_never_self() -> None:
    before = rules.fold_task([created(assignee_id=str(BOB))])
    event, payload = updated(description="ping @bob")
    got = kinds(rules.notices_for(event, CY, payload, before=before, mentioned=[BOB, CY]))
    assert got == {BOB: Kind.MENTIONED, ANN: Kind.UPDATED}


def test_delete_tells_the_watchers_of_the_task_as_it_was() -> None:
    before = rules.fold_task([created(assignee_id=str(BOB))])
    got = kinds(rules.notices_for(rules.TASK_DELETED, CY, {}, before=before))
    assert got == {ANN: Kind.DELETED, BOB: Kind.DELETED}


def test_comment_event_plugs_in() -> None:
    before = rules.fold_task([created(assignee_id=str(BOB))])
    payload = {"comment": {"id": "c1", "task_id": "t", "author_id": str(BOB), "body": "@cy ok"}}
    assert rules.event_text(rules.COMMENT_CREATED, payload) == "@cy ok"
    got = kinds(
        rules.notices_for(rules.COMMENT_CREATED, BOB, payload, before=before, mentioned=[CY])
    )
    assert got == {CY: Kind.MENTIONED, ANN: Kind.COMMENTED}


def test_unknown_event_types_notify_nobody() -> None:
    before = rules.fold_task([created(assignee_id=str(BOB))])
    assert rules.notices_for("sprint.started", CY, {}, before=before) == []


def test_fold_reconstructs_the_task_from_created_and_updates() -> None:
    state = rules.fold_task(
        [created(), updated(assignee_id=str(BOB), description="x"), updated(assignee_id=None)]
    )
    assert state is not None
    assert (state.assignee_id, state.description, state.reporter_id) == (None, "x", ANN)
    assert rules.fold_task([created(), (rules.TASK_DELETED, {})]) is None
    assert rules.fold_task([updated(title="orphan")]) is None


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("hey @ann, look", {"ann"}),
        ("@Ann@Example.com.", {"ann@example.com"}),
        ("mail ann@example.com please", set()),
        ("(@bob) and @cy.", {"bob", "cy"}),
        ("no mention @ here", set()),
        ("a@b @dee_x", {"dee_x"}),
    ],
)
def test_mention_tokens(text: str, tokens: set[str]) -> None:
    assert rules.mention_tokens(text) == tokens


def test_directory_resolves_email_and_unambiguous_local_parts() -> None:
    directory = rules.mention_directory(
        [(ANN, "Ann@example.com"), (BOB, "bob@a.org"), (CY, "bob@b.org")]
    )
    assert directory["ann"] == ANN and directory["ann@example.com"] == ANN
    assert "bob" not in directory  # two members are "bob": a mention must not guess
    assert directory["bob@b.org"] == CY
    assert rules.mentioned_users("@bob @ann @nobody @bob@a.org", directory) == {ANN, BOB}


def test_only_new_mentions_count_on_an_edit() -> None:
    directory = rules.mention_directory([(ANN, "ann@x.io"), (BOB, "bob@x.io")])
    assert rules.new_mentions("@ann", "@ann and @bob@x.io", directory) == {BOB}
    assert rules.new_mentions("@ann@x.io", "@ann again", directory) == set()


def test_describe_gives_title_and_summary() -> None:
    task = rules.fold_task([created()])
    title, summary = rules.describe(Notice(BOB, Kind.ASSIGNED), task=task, actor_name="Ann")
    assert (title, summary) == ("WEB-7: Fix login", "Ann assigned WEB-7 to you")
    _, moved = rules.describe(
        Notice(BOB, Kind.UPDATED), task=task, actor_name="Ann", changes=["status"], status="done"
    )
    assert moved == "Ann moved WEB-7 to done"
    _, changed = rules.describe(
        Notice(BOB, Kind.UPDATED), task=task, actor_name="Ann", changes=["assignee_id", "title"]
    )
    assert changed == "Ann changed the assignee, title of WEB-7"
