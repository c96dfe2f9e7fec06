"""The Tantivy schema of the task index and how a task becomes a document.

Text fields (`title`, `description`, `comments`) use Tantivy's `en_stem`
analyzer (lower-cased words, Snowball English stems) and are stored for
highlighted snippets; `words` holds the same text unstemmed, for typo-tolerant
(fuzzy) and search-as-you-type (prefix) matching; `keytext` makes `WEB-12`
findable as words. Filters use exact (`raw`) fields; dates and priority are fast
fields, so sorting by them reads columns instead of documents. `doc` keeps the
task's JSON, so a hit is answered without another read. `gen` is the rebuild
generation: a reindex writes a new one and then drops older documents.

Custom field values (`custom_fields`, by field id) go into exact terms prefixed
with the field id, whatever the field's type, so the schema stays fixed while
projects add fields: `cf` holds each value as text (`<id>=<option id>`,
`<id>=true`), `cfw` the stemmed words of text values, `cfu` URLs in lower case
(for substring matching by regex), `cfn` numbers in an order-preserving hex
spelling and `cfd` ISO dates, which range queries over terms compare in order. `has` gets `cf:<id>` for each value held, and the values
of text fields feed free text through `cfbody`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

import orjson
import tantivy

from domain.filters.custom import is_set, value_texts
from domain.filters.predicates import PRIORITY_RANK
from domain.filters.text import words

#: Fields searched for free text, with the weight of a match in each.
TEXT_FIELDS = {
    "title": 3.0,
    "description": 1.0,
    "comments": 0.7,
    "cfbody": 0.7,
    "keytext": 2.0,
}
STEMMED_FIELDS = ("title", "description", "comments", "cfbody")
RAW_FIELDS = (
    "id",
    "org",
    "project",
    "key",
    "status",
    "category",
    "priority",
    "assignee",
    "reporter",
    "label",
    "sprint",
    "has",
    "cf",
    "cfw",
    "cfn",
    "cfd",
    "cfu",
)


def build_schema() -> tantivy.Schema:
    b = tantivy.SchemaBuilder()
    for name in RAW_FIELDS:
        b.add_text_field(name, stored=name in ("id", "project"), tokenizer_name="raw")
    for name in STEMMED_FIELDS:
        b.add_text_field(name, stored=name != "cfbody", tokenizer_name="en_stem")
    b.add_text_field("keytext", tokenizer_name="default")
    b.add_text_field("words", tokenizer_name="default")
    for name in ("created", "updated", "due"):
        b.add_date_field(name, indexed=True, fast=True)
    # Date fast fields keep whole seconds; sorting needs the exact order.
    b.add_integer_field("created_us", fast=True)
    b.add_integer_field("updated_us", fast=True)
    b.add_integer_field("prio", indexed=True, fast=True)
    b.add_integer_field("gen", indexed=True, fast=True)
    b.add_integer_field("version", stored=True)
    b.add_bytes_field("doc", stored=True)
    # Number and date custom values as JSON, read back by a sort on a custom field
    # (much smaller than `doc` to decode).
    b.add_bytes_field("cfkeys", stored=True)
    return b.build()


#: What `en_stem` does to a word, for building term queries on stemmed fields.
STEMMER = (
    tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    .filter(tantivy.Filter.remove_long(40))
    .filter(tantivy.Filter.lowercase())
    .filter(tantivy.Filter.stemmer("english"))
    .build()
)


def stem(word: str) -> str:
    """The en_stem form of one word (the word itself when it tokenizes to nothing)."""
    tokens = STEMMER.analyze(word)
    return tokens[0] if tokens else word.lower()


@dataclass(frozen=True, slots=True)
class IndexedTask:
    """Everything the index keeps of one task: picklable, built from PostgreSQL."""

    task: dict[str, Any]
    org_id: str
    category: str
    attachments: int = 0
    comments: tuple[str, ...] = field(default=())
    #: The project's custom fields: id → type (`domain.custom_fields.FieldType` value).
    field_types: dict[str, str] = field(default_factory=dict)


def sortable_number(value: float) -> str:
    """A float as 16 hex digits whose order is the numbers' order (-0.0 is 0.0)."""
    bits: int = struct.unpack(">Q", struct.pack(">d", float(value) + 0.0))[0]
    bits = bits ^ 0xFFFF_FFFF_FFFF_FFFF if bits >> 63 else bits | (1 << 63)
    return f"{bits:016x}"


def custom_term(field_id: str, value: str) -> str:
    return f"{field_id}={value}"


def _add_custom(doc: tantivy.Document, item: IndexedTask) -> tuple[list[str], list[str]]:
    """Index the task's custom values by their field's type; the `has` terms and
    the free text (values of text fields) they add."""
    has: list[str] = []
    free: list[str] = []
    keys: dict[str, Any] = {}
    for field_id, value in (item.task.get("custom_fields") or {}).items():
        kind = item.field_types.get(field_id)
        if is_set(value):
            has.append(f"cf:{field_id}")
        if kind == "number" and isinstance(value, int | float):
            doc.add_text("cfn", custom_term(field_id, sortable_number(value)))
            keys[field_id] = value
        elif kind == "date" and isinstance(value, str):
            doc.add_text("cfd", custom_term(field_id, value))
            keys[field_id] = value
        elif kind == "text" and isinstance(value, str):
            for word in dict.fromkeys(words(value)):
                doc.add_text("cfw", custom_term(field_id, stem(word)))
            doc.add_text("cfbody", value)
            free.append(value)
        elif kind == "url" and isinstance(value, str):
            doc.add_text("cfu", custom_term(field_id, value.lower()))
        else:
            for text in value_texts(value):
                doc.add_text("cf", custom_term(field_id, text))
    if keys:
        doc.add_bytes("cfkeys", orjson.dumps(keys))
    return has, free


def _moment(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _midnight(value: str) -> datetime:
    return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)


def to_document(item: IndexedTask, gen: int) -> tantivy.Document:
    t = item.task
    doc = tantivy.Document()
    doc.add_text("id", t["id"])
    doc.add_text("org", item.org_id)
    doc.add_text("project", t["project_id"])
    doc.add_text("key", str(t["key"]).upper())
    doc.add_text("keytext", t["key"])
    doc.add_text("status", t["status"])
    doc.add_text("category", item.category)
    doc.add_text("priority", t["priority"])
    doc.add_integer("prio", PRIORITY_RANK.get(t["priority"], 0))
    doc.add_text("reporter", t["reporter_id"])
    has: list[str] = []
    if t.get("assignee_id"):
        doc.add_text("assignee", t["assignee_id"])
        has.append("assignee")
    if t.get("sprint_id"):
        doc.add_text("sprint", t["sprint_id"])
        has.append("sprint")
    if t.get("due_date"):
        doc.add_date("due", _midnight(t["due_date"]))
        has.append("due")
    for label in t.get("labels") or ():
        doc.add_text("label", str(label).lower())
    if t.get("labels"):
        has.append("labels")
    if t.get("estimate") is not None:
        has.append("estimate")
    if item.attachments:
        has.append("attachments")
    if item.comments:
        has.append("comments")
    custom_has, free = _add_custom(doc, item)
    has.extend(custom_has)
    for thing in has:
        doc.add_text("has", thing)
    doc.add_text("title", t["title"])
    doc.add_text("description", t.get("description") or "")
    for body in item.comments:
        doc.add_text("comments", body)
    doc.add_text("words", " ".join([t["title"], t.get("description") or "", *item.comments, *free]))
    created, updated = _moment(t["created_at"]), _moment(t["updated_at"])
    doc.add_date("created", created)
    doc.add_date("updated", updated)
    doc.add_integer("created_us", int(created.timestamp() * 1_000_000))
    doc.add_integer("updated_us", int(updated.timestamp() * 1_000_000))
    doc.add_integer("gen", gen)
    doc.add_integer("version", int(t["version"]))
    doc.add_bytes("doc", orjson.dumps(t))
    return doc
