"""Finding a forwarded message inside a body (Outlook, Gmail, Thunderbird, Apple Mail) and its headers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from intake.masking import EMAIL

from .markers import (
    FORWARD_LINE,
    QUOTE_LINE,
    SEPARATOR_LINE,
    has_forward_prefix,
    header_label,
    is_attribution,
    is_header_block,
)
from .model import Address

MAX_LEVELS = 5


@dataclass
class ForwardLevel:
    """One forwarded message found in a body: its header block and its own words."""

    sender: Address | None
    subject: str | None
    date: str | None
    to: str | None
    words: str = ""  # the body of this level, down to the next forwarded message if any
    body: str = ""  # the whole body below the header block, deeper forwards included


@dataclass
class Unwrapped:
    """A body cut at its forward markers: the forwarder's note and the chain of forwarded levels."""

    note: str
    levels: list[ForwardLevel] = field(default_factory=list)


def address_from_text(value: str) -> Address | None:
    """Parse "Jean Dupont <jean@x.fr>", "Jean Dupont [mailto:jean@x.fr]", "jean@x.fr" or a bare name."""
    value = value.strip().strip("*").strip()
    if not value:
        return None
    match = EMAIL.search(value)
    if match is None:
        name = re.sub(r"[<>\[\]\"']", " ", value)
        name = " ".join(name.split())
        return Address(name=name or None, email=None)
    email = match.group(0).lower().removeprefix("mailto:")
    name = value[: match.start()]
    name = re.sub(r"mailto:\S*|[<>\[\]()]", " ", name)
    name = " ".join(name.split()).strip("\"' *,").strip()
    if not name or name.lower() == email or EMAIL.fullmatch(name):
        return Address(name=None, email=email)
    return Address(name=name, email=email)


def _continues(previous: str, line: str) -> bool:
    # Clients wrap long header values; accept the next line only when the value is visibly unfinished.
    stripped = line.strip()
    if not stripped or header_label(line):
        return False
    unbalanced = previous.count("<") > previous.count(">") or previous.count("[") > previous.count("]")
    return unbalanced or previous.rstrip().endswith((",", ";")) or stripped.startswith(("<", "[mailto:"))


def parse_header_block(lines: list[str], start: int) -> tuple[dict[str, str], int]:
    """Read "De : …", "Objet : …" lines from ``start``; returns the headers and the first body line."""
    index = start
    while index < len(lines) and index < start + 3 and not lines[index].strip():
        index += 1
    headers: dict[str, str] = {}
    last: str | None = None
    while index < len(lines):
        line = lines[index]
        found = header_label(line)
        if found and found[0] not in headers:
            last = found[0]
            headers[last] = found[1].strip()
        elif last is not None and _continues(headers[last], line):
            headers[last] = f"{headers[last]} {line.strip()}"
        else:
            break
        index += 1
    return headers, index


def _level(headers: dict[str, str]) -> ForwardLevel:
    sender = address_from_text(headers["from"]) if headers.get("from") else None
    return ForwardLevel(
        sender=sender,
        subject=headers.get("subject") or None,
        date=headers.get("date") or None,
        to=headers.get("to") or None,
    )


def _marker(lines: list[str], index: int, *, blocks_forward: bool) -> tuple[str, int] | None:
    """("forward", header start) or ("reply", index) when a marker is at ``index``, else None."""
    line = lines[index]
    if FORWARD_LINE.match(line):
        return "forward", index + 1
    if SEPARATOR_LINE.match(line):
        following = next((i for i in range(index + 1, min(index + 4, len(lines))) if lines[i].strip()), None)
        if following is not None and is_header_block(lines, following):
            return ("forward" if blocks_forward else "reply"), following
        if line.strip().startswith("_"):
            return None
        return "reply", index
    if is_header_block(lines, index):
        return ("forward" if blocks_forward else "reply"), index
    if is_attribution(lines, index) or QUOTE_LINE.match(line):
        return "reply", index
    return None


def unwrap(text: str, *, blocks_forward: bool, depth: int = 0) -> Unwrapped | None:
    """Cut ``text`` at its first forward marker and follow nested forwards; None when not a forward.

    ``blocks_forward`` says whether a bare Outlook header block or "Original Message" line means a
    forward here (the subject says TR:/Fwd:, or nothing says it is a reply).
    """
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        found = _marker(lines, index, blocks_forward=blocks_forward)
        if found is None:
            continue
        kind, header_start = found
        if kind == "reply":
            return None
        headers, body_start = parse_header_block(lines, header_start)
        level = _level(headers)
        level.body = "\n".join(lines[body_start:]).strip("\n")
        result = Unwrapped(note="\n".join(lines[:index]).strip("\n"), levels=[level])
        inner = None
        if depth + 1 < MAX_LEVELS:
            inner = unwrap(level.body, blocks_forward=has_forward_prefix(level.subject), depth=depth + 1)
        if inner is None:
            level.words = level.body
        else:
            level.words = inner.note
            result.levels.extend(inner.levels)
        return result
    return None
