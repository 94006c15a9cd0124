"""Tests for intake.email.model."""

from __future__ import annotations

import dataclasses

import pytest

from intake.email.model import Address, ParsedAttachment


def test_attachment_size_is_payload_length() -> None:
    assert ParsedAttachment(filename="a.txt", content_type="text/plain", payload=b"12345", origin="mime").size == 5


def test_address_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Address("a", "a@b.fr").email = "c@d.fr"  # type: ignore[misc]
