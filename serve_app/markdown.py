"""Markdown → sanitised HTML for comment bodies.

Two layers, so that a gap in one is caught by the other: markdown-it-py renders
CommonMark with raw HTML disabled (`<script>` in the text comes out escaped, and
its link validator drops `javascript:`, `vbscript:`, `file:` and most `data:`
URLs), then nh3 (the Rust `ammonia` sanitiser) keeps only an allow-list of tags
and attributes and only `http`, `https` and `mailto` URLs, and marks every link
`rel="noopener noreferrer nofollow"`. No `on*` attribute and no `style` is ever
allowed through.
"""

from __future__ import annotations

import functools

import nh3
from markdown_it import MarkdownIt

_TAGS = {
    "a", "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6", "img",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}
_SCHEMES = {"http", "https", "mailto"}


@functools.cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


def render(body: str) -> str:
    """The sanitised HTML of a markdown body."""
    html = _parser().render(body)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
