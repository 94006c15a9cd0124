"""HTML bodies: sanitising with nh3 for the back office, and converting to plain text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

from .charset import clean_text

_SAFE_SRC = ("cid:", "data:image/")
# Tags removed with everything inside them, not just unwrapped.
_DROP_CONTENT = {"script", "style", "head", "title", "template", "noscript", "object", "iframe", "svg"}
_CLEAN_CONTENT = {"script", "style", "template", "noscript", "object", "iframe", "title"}
_BLOCK = {
    "p",
    "div",
    "br",
    "tr",
    "li",
    "ul",
    "ol",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "hr",
    "dl",
    "dt",
    "dd",
    "section",
    "article",
    "header",
    "footer",
    "address",
}


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    # Remote images are tracking beacons and leak that a human opened the message: only embedded ones stay.
    if attribute in {"src", "srcset", "background"}:
        return value if value.strip().lower().startswith(_SAFE_SRC) else None
    return value


def sanitise_html(html: str) -> str:
    """Clean HTML: no scripts, no styles, no event handlers, no remote images."""
    return nh3.clean(
        html,
        tags=set(nh3.ALLOWED_TAGS) - _CLEAN_CONTENT,
        clean_content_tags=_CLEAN_CONTENT,
        attribute_filter=_keep_attribute,
        url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
        strip_comments=True,
    )


class _TextExtractor(HTMLParser):
    """Collects text, turning block elements into line breaks and blockquotes into "> " lines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.quote = 0
        self.pre = 0

    def _flush(self) -> None:
        line = "".join(self.current)
        if not self.pre:
            line = " ".join(line.split())
        prefix = "> " * self.quote
        self.lines.append(f"{prefix}{line}" if line or not prefix else prefix.rstrip())
        self.current = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP_CONTENT:
            self.skip += 1
            return
        if tag in _BLOCK:
            if self.current or tag in {"br", "p"}:
                self._flush()
            if tag == "hr":
                self.lines.append("________________________________")
        if tag == "blockquote":
            self.quote += 1
        elif tag == "pre":
            self.pre += 1
        elif tag in {"td", "th"} and self.current:
            self.current.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _DROP_CONTENT:
            return
        self.skip -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP_CONTENT:
            self.skip = max(0, self.skip - 1)
            return
        if tag in _BLOCK and self.current:
            self._flush()
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        elif tag == "pre":
            self.pre = max(0, self.pre - 1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            parts = data.split("\n")
            for part in parts[:-1]:
                self.current.append(part)
                self._flush()
            self.current.append(parts[-1])
        else:
            self.current.append(data)

    def text(self) -> str:
        if self.current:
            self._flush()
        return "\n".join(self.lines)


def html_to_text(html: str) -> str:
    """Plain text of an HTML body: tags stripped, entities unescaped, block elements on their own lines."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient, but a hostile document must still give some text
        return clean_text(re.sub(r"<[^>]*>", " ", html))
    text = clean_text(parser.text().replace("\xa0", " "))
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
