"""Phone numbers: E.164 from what people type, the French overseas plan, mobiles, numbers in free text."""

from __future__ import annotations

import pytest

from intake.phones import (
    find_phone,
    find_phones,
    is_e164,
    is_french_mobile,
    is_mobile,
    is_whatsapp,
    known_region,
    strip_phones,
    strip_whatsapp,
    to_e164,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
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
        ("+262 639 40 12 34", "+262639401234"),  # Mayotte's mobiles moved from +269 to +262 in 2007
        ("+590 690 12 34 56", "+590690123456"),
        ("+594 694 12 34 56", "+594694123456"),
        ("+596 696 12 34 56", "+596696123456"),
        ("+687 75 12 34", "+687751234"),
        ("+689 87 12 34 56", "+68987123456"),
        ("+1 415 867 5309", "+14158675309"),
        ("+44 7700 900123", "+447700900123"),
        ("07 00 00 00 02", "+33700000002"),  # a range not yet assigned is kept: the data lags new allocations
    ],
)
def test_valid_numbers(text: str, expected: str) -> None:
    assert to_e164(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0694 12 34 56", "+594694123456"),  # Guyane mobile: was +33694123456, an SMS to nobody
        ("0594 30 00 00", "+594594300000"),  # Guyane landline
        ("0692 12 34 56", "+262692123456"),  # Réunion
        ("0262 21 00 00", "+262262210000"),
        ("0690 12 34 56", "+590690123456"),  # Guadeloupe
        ("0696 12 34 56", "+596696123456"),  # Martinique
        ("0639 40 12 34", "+262639401234"),  # Mayotte
        ("0269 61 12 34", "+262269611234"),  # Mayotte landline: metropolitan data would also take it as +33
        ("0596 30 12 34", "+596596301234"),  # Martinique landline, likewise
        ("0590 82 12 34", "+590590821234"),  # Guadeloupe landline
        ("+33 694 12 34 56", "+594694123456"),  # the metropolitan code written by mistake
    ],
)
def test_overseas_numbers_written_nationally(text: str, expected: str) -> None:
    assert to_e164(text) == expected
    assert to_e164(text, region="GF") == expected  # whichever territory of the French plan the town is in


def test_metropolitan_numbers_stay_metropolitan() -> None:
    for text, expected in (
        ("01 42 76 40 40", "+33142764040"),
        ("05 53 00 00 01", "+33553000001"),
        ("0806 02 34 56", "+33806023456"),
        ("09 76 12 34 56", "+33976123456"),
    ):
        assert to_e164(text) == expected, text


def test_region_reads_national_forms() -> None:
    assert to_e164("06 12 34 56 78", region="GF") == "+33612345678"  # a metropolitan mobile, from Cayenne
    assert to_e164("0612345678", region="BE") == "+32612345678"  # a Belgian town reads Belgian numbers
    assert to_e164("(415) 867-5309", region="US") == "+14158675309"
    assert to_e164("06 12 34 56 78", region="US") is None  # no trunk 0 in North America
    assert to_e164("+33 6 12 34 56 78", region="US") == "+33612345678"
    assert known_region("GF") and known_region("fr") and not known_region("XX")


@pytest.mark.parametrize(
    "text",
    [
        "",
        None,
        "bonjour",
        "06 12 34 56",
        "06 12 34 56 78 90",
        "00 00 00 00 00",
        "+33 6 12 34",
        "+1234567",
        "+1234567890123456",
        "612345678",
        "06 12 34 56 78 rue",
        "anonymous",
        "+33 0 12 34 56 78",
    ],
)
def test_invalid_numbers(text: str | None) -> None:
    assert to_e164(text) is None


def test_mobiles() -> None:
    assert is_french_mobile("+33612345678") and is_french_mobile("+33757000001")
    assert is_french_mobile("+262692123456") and is_french_mobile("+594694123456")
    assert is_french_mobile("+590690123456") and is_french_mobile("+596696123456")
    assert not is_french_mobile("+33142764040")
    assert not is_french_mobile("+262262123456")
    assert not is_french_mobile("+33712345678")  # 07 12 is not an assigned range
    assert not is_french_mobile("+33694123456")  # no such metropolitan number: it is +594 694…
    assert not is_french_mobile("+14158675309") and not is_french_mobile(None)
    assert is_mobile("+447400123456") and not is_mobile("+447400123456", regions=("FR",))


def test_e164_form() -> None:
    assert is_e164("+33612345678") and is_e164("+594694123456") and is_e164("+14158675309")
    for value in ("0612345678", "+33 6 12 34 56 78", "+330612345678", "+33612", "33612345678", "", None, "+"):
        assert not is_e164(value), value


def test_whatsapp_prefix() -> None:
    assert is_whatsapp("whatsapp:+33612345678") and is_whatsapp("WhatsApp:+33612345678")
    assert not is_whatsapp("+33612345678") and not is_whatsapp(None)
    assert strip_whatsapp(" whatsapp:+33612345678 ") == "+33612345678"
    assert strip_whatsapp("+33612345678") == "+33612345678"


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
        "tel.0612345678",
    ],
)
def test_phone_in_free_text(text: str) -> None:
    assert find_phone(text) == "+33612345678"


def test_first_assigned_number_wins() -> None:
    assert find_phone("fixe 05 53 00 00 01, portable 07 00 00 00 02") == "+33553000001"
    assert find_phone("portable 07 00 00 00 02, fixe 05 53 00 00 01") == "+33553000001"
    assert find_phone("Joignable au 0694 12 34 56 en journée") == "+594694123456"


@pytest.mark.parametrize(
    "text",
    [
        "n° SIRET 12345678901234",
        "le 12 mars 2025 à 10:12",
        "00 12 34 56 78",
        "0612345678901",
        "",
        "Dossier 2026-00042",
        "né le 12/03/1984, code 75011 Paris",
        "facture 2024-123456",
        "lampadaire n° 12345",
    ],
)
def test_not_phone_numbers(text: str) -> None:
    assert find_phone(text) is None
    assert find_phones(text) == []


def test_found_numbers_have_their_place() -> None:
    text = "Jean – 06 12 34 56 78 ou +33 7 11 22 33 44"
    found = find_phones(text)
    assert [(text[m.start : m.end], m.e164, m.valid) for m in found] == [
        ("06 12 34 56 78", "+33612345678", True),
        ("+33 7 11 22 33 44", "+33711223344", False),
    ]
    assert strip_phones(text).split() == ["Jean", "–", "ou"]
    assert find_phones("call (415) 867-5309", region="US")[0].e164 == "+14158675309"
