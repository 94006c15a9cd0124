"""Tests for intake.email.headers: RFC 2047, 8-bit headers, addresses, ids and dates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from intake.email.headers import (
    decode_header_value,
    parse_address,
    parse_address_list,
    parse_date,
    parse_msgid,
    parse_msgids,
)
from intake.email.model import Address


def test_encoded_words_in_several_charsets() -> None:
    assert decode_header_value("=?iso-8859-15?Q?=BDuvre_ab=EEm=E9e?=") == "œuvre abîmée"
    assert decode_header_value("=?UTF-8?B?w4lyaWMgQ8O0dMOp?=") == "Éric Côté"
    # Whitespace between two encoded words disappears, as RFC 2047 says.
    assert decode_header_value("=?utf-8?q?Cyklozam=c4=9bstnavatel?= =?UTF-8?B?w60=?=") == "Cyklozaměstnavatelí"


def test_broken_encoded_words_degrade() -> None:
    assert decode_header_value("=?utf-8?B?w4lyaWM?=") == "Éric"  # missing padding
    assert decode_header_value("=?x-unknown?Q?caf=E9?=") == "café"


def test_raw_8bit_header() -> None:
    assert decode_header_value("H\udcc3\udca9l\udcc3\udca8ne") == "Hélène"
    assert decode_header_value("caf\udce9") == "café"


def test_addresses() -> None:
    assert parse_address('"Dupont, Jean" <Jean.Dupont@Exemple.FR>') == Address("Dupont, Jean", "jean.dupont@exemple.fr")
    assert parse_address("=?utf-8?Q?Ren=C3=A9?= <rene@x.fr>") == Address("René", "rene@x.fr")
    assert parse_address("jean@x.fr") == Address(None, "jean@x.fr")
    assert parse_address("Mairie") == Address("Mairie", None)
    assert parse_address("") is None
    assert [a.email for a in parse_address_list("a@x.fr, B <b@y.fr>")] == ["a@x.fr", "b@y.fr"]


def test_message_ids() -> None:
    assert parse_msgid("<abc@x.fr>") == "abc@x.fr"
    assert parse_msgid("  abc@x.fr ") == "abc@x.fr"
    assert parse_msgid(None) is None
    assert parse_msgids("<a@x> <b@y>\t<c@z>") == ["a@x", "b@y", "c@z"]


def test_dates_are_timezone_aware() -> None:
    paris = timezone(timedelta(hours=1))
    assert parse_date("Mon, 3 Mar 2025 11:02:10 +0100") == datetime(2025, 3, 3, 11, 2, 10, tzinfo=paris)
    assert parse_date("Mon, 3 Mar 2025 11:02:10 -0000") == datetime(2025, 3, 3, 11, 2, 10, tzinfo=UTC)
    assert parse_date("demain matin") is None
