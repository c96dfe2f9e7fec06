"""Translating resolved filter predicates into Tantivy queries, built as objects
(never by pasting strings into Tantivy's query parser, whose syntax a user's text
could break or bend).

Free text (`Words`) matches a word in any text field, by stem in the stemmed
fields and as written in `keytext`. Two search-only loosenings: `fuzzy` also
accepts words one or two edits away (typo tolerance) and `prefix` lets one word
(the one being typed) match any longer word it begins.

The longer words are best named: the shard looks them up in the index's term
dictionary (`TaskIndex.completions`), and a word nothing longer begins adds no
clause at all. Matching the typed word itself again as a prefix used to cost a
second pass over every task that holds it: over a million tasks, a word in one
task of eight took 2.5 ms to search, 1.4 without that pass.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import tantivy
from tantivy import FieldType, Occur, Query

from domain.filters.predicates import (
    AllOf,
    AnyOf,
    CustomContains,
    CustomIs,
    CustomRange,
    CustomSet,
    CustomWords,
    DueRange,
    Everything,
    HasThing,
    IsMissing,
    Match,
    NoneOf,
    Nothing,
    Predicate,
    PriorityRange,
    TimeRange,
    Words,
)
from search.schema import STEMMED_FIELDS, TEXT_FIELDS, custom_term, sortable_number, stem

#: Characters a Tantivy regex treats specially (escaping them is always allowed).
_REGEX_META = frozenset("\\.+*?()|[]{}^$#&-~")

_MATCH_FIELDS = {
    "assignee": "assignee",
    "reporter": "reporter",
    "project": "project",
    "sprint": "sprint",
    "status": "status",
    "category": "category",
    "priority": "priority",
    "label": "label",
    "key": "key",
}


@dataclass(frozen=True, slots=True)
class TextOptions:
    fuzzy: bool = False
    #: A word (lower case) that also matches as a prefix of longer words.
    prefix: str | None = None
    #: The indexed words longer than `prefix` that begin with it, when looked up
    #: (None: not looked up, or too many; a regex over the terms finds them).
    completions: tuple[str, ...] | None = None


def terms(schema: tantivy.Schema, field: str, values: Collection[str]) -> Query:
    if len(values) == 1:
        return Query.term_query(schema, field, next(iter(values)))
    return Query.term_set_query(schema, field, sorted(values))


def _all(parts: Sequence[Query]) -> Query:
    return Query.boolean_query([(Occur.Must, q) for q in parts])


def _any(parts: Sequence[Query]) -> Query:
    return Query.boolean_query([(Occur.Should, q) for q in parts])


def _not(part: Query) -> Query:
    return Query.boolean_query([(Occur.Must, Query.all_query()), (Occur.MustNot, part)])


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _range(
    schema: tantivy.Schema, field: str, start: datetime | None, end: datetime | None
) -> Query:
    if start is None and end is None:
        return Query.exists_query(field)
    return Query.range_query(
        schema, field, FieldType.Date, start, end, include_lower=True, include_upper=end is None
    )


def translate(schema: tantivy.Schema, pred: Predicate, text: TextOptions | None = None) -> Query:
    """The Tantivy query for `pred`; `text` loosens free-text matching (search only)."""
    opts = text or TextOptions()
    match pred:
        case Everything():
            return Query.all_query()
        case Nothing():
            return Query.empty_query()
        case Match(field=name, values=values):
            return terms(schema, _MATCH_FIELDS[name], values)
        case IsMissing(field=missing):
            return _not(Query.term_query(schema, "has", missing.value))
        case HasThing(thing=thing):
            return Query.term_query(schema, "has", thing.value)
        case TimeRange(field=name, start=start, end=end):
            return _range(schema, name, start, end)
        case DueRange(start=start, end=end):
            return _range(
                schema,
                "due",
                _midnight(start) if start else None,
                _midnight(end) if end else None,
            )
        case PriorityRange(low=low, high=high):
            return Query.range_query(schema, "prio", FieldType.Integer, low, high)
        case Words(words=words, phrase=True) if len(words) > 1:
            return _phrase(schema, words)
        case Words(words=words):
            return _all([_word(schema, w, opts) for w in words])
        case CustomIs(field=field_id, values=values):
            return terms(schema, "cf", [custom_term(field_id, v) for v in values])
        case CustomRange():
            return _custom_range(schema, pred)
        case CustomWords(field=field_id, words=words):
            return _all(
                [Query.term_query(schema, "cfw", custom_term(field_id, stem(w))) for w in words]
            )
        case CustomContains(field=field_id, text=piece):
            pattern = f"{_escape(field_id)}=.*{_escape(piece)}.*"
            return Query.regex_query(schema, "cfu", pattern)
        case CustomSet(field=field_id):
            return Query.term_query(schema, "has", f"cf:{field_id}")
        case AllOf(parts=parts):
            return _all([translate(schema, p, opts) for p in parts])
        case AnyOf(parts=parts):
            return _any([translate(schema, p, opts) for p in parts])
        case NoneOf(part=part):
            return _not(translate(schema, part, opts))
    raise TypeError(f"not a predicate: {pred!r}")  # pragma: no cover


def _escape(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def _custom_range(schema: tantivy.Schema, pred: CustomRange) -> Query:
    """A range over the field's fixed-width terms (`<id>=<16 hex digits>` for numbers,
    `<id>=YYYY-MM-DD` for dates), whose order is the values'. Tantivy ranges only
    numeric fields, so each side is a regex matching the terms beyond the bound."""
    bound = pred.low if pred.low is not None else pred.high
    is_date = isinstance(bound, str)
    field, alphabet = ("cfd", "-0123456789") if is_date else ("cfn", "0123456789abcdef")

    def spelled(value: float | str) -> str:
        return value if isinstance(value, str) else sortable_number(value)

    if pred.low is not None and pred.low == pred.high and pred.include_low and pred.include_high:
        return Query.term_query(schema, field, custom_term(pred.field, spelled(pred.low)))
    parts = []
    if pred.low is not None:
        parts.append(_beyond(spelled(pred.low), alphabet, above=True, equal=pred.include_low))
    if pred.high is not None:
        parts.append(_beyond(spelled(pred.high), alphabet, above=False, equal=pred.include_high))
    prefix = _escape(f"{pred.field}=")
    queries = [
        Query.regex_query(schema, field, prefix + body) if body else Query.empty_query()
        for body in parts
    ]
    return queries[0] if len(queries) == 1 else _all(queries)


def _beyond(text: str, alphabet: str, *, above: bool, equal: bool) -> str | None:
    """A regex for the strings as long as `text` that sort after it (`above`) or
    before it, and `text` itself when `equal`; None when there are none."""
    # Character classes, not `.`: the compiled automaton must stay under 1000 states.
    anything = "[" + _escape(alphabet) + "]"
    options = []
    for i, ch in enumerate(text):
        chars = _escape("".join(c for c in alphabet if (c > ch if above else c < ch)))
        if chars:
            rest = len(text) - i - 1
            options.append(
                f"{_escape(text[:i])}[{chars}]" + (f"{anything}{{{rest}}}" if rest else "")
            )
    if equal:
        options.append(_escape(text))
    return "(" + "|".join(options) + ")" if options else None


def _word(schema: tantivy.Schema, word: str, opts: TextOptions) -> Query:
    stemmed = stem(word)
    options = [
        Query.boost_query(Query.term_query(schema, name, stemmed), TEXT_FIELDS[name])
        for name in STEMMED_FIELDS
    ]
    options.append(Query.boost_query(Query.term_query(schema, "keytext", word), 2.0))
    if opts.fuzzy and len(word) >= 4:
        distance = 1 if len(word) < 8 else 2
        fuzzy = Query.fuzzy_term_query(schema, "words", word, distance=distance)
        options.append(Query.boost_query(fuzzy, 0.5))
    if opts.prefix is not None and word == opts.prefix:
        longer = _longer_words(schema, word, opts.completions)
        if longer is not None:
            options.append(Query.const_score_query(longer, 0.8))
    return Query.disjunction_max_query(options, tie_breaker=0.1)


def _longer_words(
    schema: tantivy.Schema, word: str, completions: tuple[str, ...] | None
) -> Query | None:
    """Tasks holding a word that `word` begins and is not: the exact clauses
    already find `word` itself (its stem, in the same fields). Every such task
    scores 0.8 for it: less than the word itself scores in a title, and in a
    description unless a large share of the tasks hold the word."""
    if completions is None:
        return Query.regex_query(schema, "words", _escape(word) + ".+")
    if not completions:
        return None
    return terms(schema, "words", completions)


def _phrase(schema: tantivy.Schema, words: Sequence[str]) -> Query:
    stems: list[str | tuple[int, str]] = [stem(w) for w in words]
    raw: list[str | tuple[int, str]] = list(words)
    options = [
        Query.boost_query(Query.phrase_query(schema, name, stems), TEXT_FIELDS[name])
        for name in STEMMED_FIELDS
    ]
    options.append(Query.phrase_query(schema, "keytext", raw))
    return _any(options)


def has_free_text(pred: Predicate) -> bool:
    match pred:
        case Words():
            return True
        case AllOf(parts=parts) | AnyOf(parts=parts):
            return any(has_free_text(p) for p in parts)
        case NoneOf(part=part):
            return has_free_text(part)
    return False
