"""Comment text rules, markdown sanitisation against XSS payloads, attachment names
and content sniffing."""

from __future__ import annotations

import io
from html.parser import HTMLParser

import pytest
from PIL import Image

from domain import attachments, comments
from domain.errors import InvalidInput, PayloadTooLarge
from serve_app.markdown import render
from serve_app.uploads import sniff

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](java\tscript:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](javascript:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    '<iframe src="https://evil.example"></iframe>',
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="https://ok.example" onclick="alert(1)">x</a>',
    "`<script>` in code is text",
    "<<script>script>alert(1)<</script>/script>",
    '[a](https://ok.example "title" onmouseover=alert(1))',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    "<object data=javascript:alert(1)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
]


class _Elements(HTMLParser):
    """Every element and attribute of rendered HTML, as a browser would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(k, v or "") for k, v in attrs]


ALLOWED_TAGS = {"p", "a", "img", "code", "pre", "strong", "em", "br"}


@pytest.mark.parametrize("payload", XSS)
def test_rendered_markdown_carries_no_script(payload: str) -> None:
    parsed = _Elements()
    parsed.feed(render(payload))
    assert set(parsed.tags) <= ALLOWED_TAGS, parsed.tags
    for name, value in parsed.attrs:
        assert not name.startswith("on") and name != "style", (name, value)
        if name in ("href", "src"):
            scheme = value.split(":", 1)[0].strip().lower() if ":" in value else ""
            assert scheme in ("", "http", "https", "mailto"), value


def test_markdown_renders_and_links_are_safe() -> None:
    html = render("**bold** and [site](https://example.com) and `code`")
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert 'href="https://example.com"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_body_limits() -> None:
    with pytest.raises(InvalidInput):
        comments.check_body("  \n ")
    assert comments.check_body("x" * comments.MAX_BODY_BYTES)
    with pytest.raises(PayloadTooLarge):
        comments.check_body("é" * (comments.MAX_BODY_BYTES // 2 + 1))


@pytest.mark.parametrize("emoji", ["👍", "🎉", "👍🏽", "❤️", "👨‍👩‍👧", "1️⃣", "🇫🇷"])
def test_emoji_accepted(emoji: str) -> None:
    assert comments.check_emoji(emoji) == emoji


@pytest.mark.parametrize("emoji", ["", "a", "ok", "👍 ", "<b>", "1", "👍" * 20])
def test_emoji_rejected(emoji: str) -> None:
    with pytest.raises(InvalidInput):
        comments.check_emoji(emoji)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        (".htaccess", "htaccess"),
        ("a\x00b\r\nc.txt", "a_b_c.txt"),
        ('we"ird<>|name?.txt', "we_ird_name_.txt"),
        ("", "file"),
        ("...", "file"),
    ],
)
def test_filenames_are_sanitised(raw: str, clean: str) -> None:
    assert attachments.sanitize_filename(raw) == clean


def test_long_filename_keeps_extension() -> None:
    name = attachments.sanitize_filename("ä" * 300 + ".tar.gz")
    assert name.endswith(".gz") and len(name.encode()) <= 255


def test_content_type_is_sniffed_from_bytes() -> None:
    png = io.BytesIO()
    Image.new("RGB", (4, 4)).save(png, "PNG")
    assert sniff(png.getvalue()) == "image/png"
    assert sniff(b"%PDF-1.7\n...") == "application/pdf"
    assert sniff("plain text, ünïcode".encode()) == "text/plain"
    assert sniff(b"\x00\x01\x02\x03garbage") == "application/octet-stream"
