"""Shared helpers for the email tests: where fixtures live and how to read them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from intake.email.model import ParsedEmail
from intake.email.parse import parse_email

DATA = Path(__file__).parents[1] / "data" / "emails"


@pytest.fixture
def raw() -> Callable[[str], bytes]:
    """Bytes of a fixture under tests/data/emails, by relative path."""
    return lambda name: (DATA / name).read_bytes()


@pytest.fixture
def parsed() -> Callable[..., ParsedEmail]:
    """Parse a fixture under tests/data/emails, passing options through to parse_email."""

    def load(name: str, **options: object) -> ParsedEmail:
        return parse_email((DATA / name).read_bytes(), **options)  # type: ignore[arg-type]

    return load
