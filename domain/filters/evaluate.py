"""Evaluating resolved predicates against one task in memory (grain, boards, rules).

`TaskFacts` is what a condition can ask about a task: its JSON (as
`Task.as_json`, custom field values included), the category of its status,
whether it has attachments and comments, and the text of its comments. The search index and the SQL builder
answer the same predicates; `tests/integration/test_task_filter.py` runs one set
of queries through all three.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from domain.filters.custom import in_range, is_set, value_texts
from domain.filters.predicates import (
    PRIORITY_RANK,
    AllOf,
    AnyOf,
    CustomContains,
    CustomIs,
    CustomRange,
    CustomSet,
    CustomWords,
    DueRange,
    Everything,
    Has,
    HasThing,
    IsMissing,
    Match,
    Missing,
    NoneOf,
    Nothing,
    Predicate,
    PriorityRange,
    TimeRange,
    Words,
)
from domain.filters.text import Stemmer, contains_phrase, stems


@dataclass(frozen=True, slots=True)
class TaskFacts:
    task: Mapping[str, Any]
    category: str | None = None
    attachments: int = 0
    comments: Sequence[str] = ()

    def text_fields(self) -> list[str]:
        return [
            str(self.task.get("title") or ""),
            str(self.task.get("description") or ""),
            str(self.task.get("key") or ""),
            *self.comments,
        ]


def _field_values(facts: TaskFacts, name: str) -> set[str]:
    task = facts.task
    match name:
        case "assignee":
            value = task.get("assignee_id")
        case "reporter":
            value = task.get("reporter_id")
        case "project":
            value = task.get("project_id")
        case "sprint":
            value = task.get("sprint_id")
        case "status":
            value = task.get("status")
        case "category":
            value = facts.category
        case "priority":
            value = task.get("priority")
        case "key":
            value = str(task.get("key") or "").upper()
        case "label":
            return {str(x).lower() for x in task.get("labels") or ()}
        case _:  # pragma: no cover - resolve never makes other names
            raise ValueError(f"unknown field {name!r}")
    return set() if value is None else {str(value)}


def _moment(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _has(facts: TaskFacts, thing: Has) -> bool:
    task = facts.task
    match thing:
        case Has.ATTACHMENTS:
            return facts.attachments > 0
        case Has.COMMENTS:
            return len(facts.comments) > 0
        case Has.DUE:
            return task.get("due_date") is not None
        case Has.LABELS:
            return bool(task.get("labels"))
        case Has.SPRINT:
            return task.get("sprint_id") is not None
        case Has.ESTIMATE:
            return task.get("estimate") is not None
        case Has.ASSIGNEE:
            return task.get("assignee_id") is not None


_MISSING_KEY = {
    Missing.ASSIGNEE: "assignee_id",
    Missing.SPRINT: "sprint_id",
    Missing.DUE: "due_date",
}


def matches(pred: Predicate, facts: TaskFacts, *, stem: Stemmer | None = None) -> bool:
    """Whether the task satisfies `pred`. `stem` should be the stemmer the other
    backends use (Snowball English) for free text to agree with them."""
    match pred:
        case Everything():
            return True
        case Nothing():
            return False
        case Match(field=name, values=values):
            return bool(_field_values(facts, name) & values)
        case IsMissing(field=missing):
            return facts.task.get(_MISSING_KEY[missing]) is None
        case HasThing(thing=thing):
            return _has(facts, thing)
        case TimeRange(field=name, start=start, end=end):
            moment = _moment(facts.task.get(f"{name}_at"))
            return moment is not None and _within(moment, start, end)
        case DueRange(start=start, end=end):
            due = _day(facts.task.get("due_date"))
            return due is not None and _within(due, start, end)
        case PriorityRange(low=low, high=high):
            return low <= PRIORITY_RANK.get(str(facts.task.get("priority")), 0) <= high
        case Words(words=words, phrase=phrase, fields=fields):
            return _text_matches(facts, words, phrase, stem, fields)
        case CustomIs(field=field_id, values=values):
            return bool(value_texts(_custom(facts, field_id)) & values)
        case CustomRange():
            return in_range(_custom(facts, pred.field), pred)
        case CustomWords(field=field_id, words=words):
            value = _custom(facts, field_id)
            if not isinstance(value, str):
                return False
            have = set(stems(value, stem))
            return all((stem(w) if stem else w) in have for w in words)
        case CustomContains(field=field_id, text=text):
            value = _custom(facts, field_id)
            return isinstance(value, str) and text in value.lower()
        case CustomSet(field=field_id):
            return is_set(_custom(facts, field_id))
        case AllOf(parts=parts):
            return all(matches(p, facts, stem=stem) for p in parts)
        case AnyOf(parts=parts):
            return any(matches(p, facts, stem=stem) for p in parts)
        case NoneOf(part=part):
            return not matches(part, facts, stem=stem)
    raise TypeError(f"not a predicate: {pred!r}")  # pragma: no cover


def _custom(facts: TaskFacts, field_id: str) -> Any:
    return (facts.task.get("custom_fields") or {}).get(field_id)


def _within(value: Any, start: Any, end: Any) -> bool:
    return (start is None or value >= start) and (end is None or value < end)


def _text_matches(
    facts: TaskFacts,
    query_words: tuple[str, ...],
    phrase: bool,
    stem: Stemmer | None,
    custom: tuple[str, ...],
) -> bool:
    wanted = [stem(w) for w in query_words] if stem else list(query_words)
    texts = facts.text_fields()
    texts.extend(v for f in custom if isinstance(v := _custom(facts, f), str))
    fields = [stems(text, stem) for text in texts]
    if phrase:
        return any(contains_phrase(f, wanted) for f in fields)
    every = {w for f in fields for w in f}
    return all(w in every for w in wanted)
