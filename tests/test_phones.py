"""French and international phone numbers normalised to E.164."""

from __future__ import annotations

import pytest

from intake.phones import is_french_mobile, is_whatsapp, strip_whatsapp, to_e164


@pytest.mark.parametrize(("text", "expected"), [
    ("06 12 34 56 78", "+33612345678"),
    ("06.12.34.56.78", "+33612345678"),
    ("06-12-34-56-78", "+33612345678"),
    ("0612345678", "+33612345678"),
    ("01 42 76 40 40", "+33142764040"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("+33612345678", "+33612345678"),
    ("0033 6 12 34 56 78", "+33612345678"),
    ("+33 (0)6 12 34 56 78", "+33612345678"),
    ("+33 06 12 34 56 78", "+33612345678"),
    ("whatsapp:+33612345678", "+33612345678"),
    ("+262 692 12 34 56", "+262692123456"),
    ("+590 690 12 34 56", "+590690123456"),
    ("+594 694 12 34 56", "+594694123456"),
    ("+596 696 12 34 56", "+596696123456"),
    ("+269 639 12 34 56", "+269639123456"),
    ("+687 75 12 34", "+687751234"),
    ("+689 87 12 34 56", "+68987123456"),
    ("+1 415 867 5309", "+14158675309"),
    ("+44 7700 900123", "+447700900123"),
])
def test_valid_numbers(text: str, expected: str) -> None:
    assert to_e164(text) == expected


@pytest.mark.parametrize("text", [
    "", None, "bonjour", "06 12 34 56", "06 12 34 56 78 90", "00 00 00 00 00", "+33 6 12 34", "+1234567",
    "+1234567890123456", "612345678", "06 12 34 56 78 rue", "anonymous", "+33 0 12 34 56 78",
])
def test_invalid_numbers(text: str | None) -> None:
    assert to_e164(text) is None


def test_national_form_needs_french_default() -> None:
    assert to_e164("06 12 34 56 78", default_country="BE") is None
    assert to_e164("+33 6 12 34 56 78", default_country="BE") == "+33612345678"


def test_french_mobiles() -> None:
    assert is_french_mobile("+33612345678") and is_french_mobile("+33712345678")
    assert is_french_mobile("+262692123456")
    assert not is_french_mobile("+33142764040")
    assert not is_french_mobile("+262262123456")
    assert not is_french_mobile("+14158675309") and not is_french_mobile(None)


def test_whatsapp_prefix() -> None:
    assert is_whatsapp("whatsapp:+33612345678") and is_whatsapp("WhatsApp:+33612345678")
    assert not is_whatsapp("+33612345678") and not is_whatsapp(None)
    assert strip_whatsapp(" whatsapp:+33612345678 ") == "+33612345678"
    assert strip_whatsapp("+33612345678") == "+33612345678"
