"""Tests for intake.email.phone: French phone numbers in E.164."""

from __future__ import annotations

import pytest

from intake.email.phone import find_french_phone, strip_phones


@pytest.mark.parametrize(
    "text",
    [
        "Tél : 06 12 34 56 78",
        "06.12.34.56.78",
        "06-12-34-56-78",
        "0612345678",
        "+33 6 12 34 56 78",
        "+33 (0)6 12 34 56 78",
        "+33612345678",
        "0033612345678",
        "00 33 6 12 34 56 78",
    ],
)
def test_french_mobile_formats(text: str) -> None:
    assert find_french_phone(text) == "+33612345678"


def test_landline_and_first_number_wins() -> None:
    assert find_french_phone("fixe 05 53 00 00 01, portable 07 00 00 00 02") == "+33553000001"


@pytest.mark.parametrize(
    "text",
    ["n° SIRET 12345678901234", "le 12 mars 2025 à 10:12", "00 12 34 56 78", "0612345678901", ""],
)
def test_not_phone_numbers(text: str) -> None:
    assert find_french_phone(text) is None


def test_strip_phones() -> None:
    assert strip_phones("Jean – 06 12 34 56 78").split() == ["Jean", "–"]
