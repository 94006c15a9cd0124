"""Tests for intake.email.charset: decoding bytes of any charset into clean UTF-8."""

from __future__ import annotations

import pytest

from intake.email.charset import clean_text, decode_bytes, normalise_charset, recover_bytes

FRENCH = "L'œuvre coûte 15 € : déjà abîmée, ça fait peine à voir. Noël, où êtes-vous ?"


@pytest.mark.parametrize("charset", ["iso-8859-15", "windows-1252", "utf-8", "UTF-8", "cp1252"])
def test_declared_charset_is_used(charset: str) -> None:
    assert decode_bytes(FRENCH.encode(charset), charset) == FRENCH


def test_undeclared_latin_text_falls_back_to_cp1252() -> None:
    data = "Les poubelles débordent près de l'école.".encode("cp1252")
    notes: list[str] = []
    assert decode_bytes(data, None, notes=notes) == "Les poubelles débordent près de l'école."
    assert notes == ["texte 8 bits sans jeu de caractères déclaré, lu en cp1252"]


def test_short_text_is_not_misread_as_central_european() -> None:
    # charset-normalizer alone reads this as cp1250 ("ŕ traiter ... trčs"): the fallback must win.
    data = "à traiter svp, c'est très urgent. Merci. Façade".encode("latin-1")
    assert decode_bytes(data, None) == "à traiter svp, c'est très urgent. Merci. Façade"


def test_utf8_labelled_latin1_is_repaired() -> None:
    notes: list[str] = []
    assert decode_bytes("très glissant".encode(), "iso-8859-1", notes=notes) == "très glissant"
    assert notes == ["texte déclaré iso-8859-1 mais encodé en UTF-8"]


def test_wrong_declared_utf8_falls_back() -> None:
    assert decode_bytes("coût 12 €".encode("cp1252"), "utf-8") == "coût 12 €"


def test_unknown_charset_is_noted_and_detected() -> None:
    notes: list[str] = []
    assert decode_bytes("été".encode(), "x-klingon", notes=notes) == "été"
    assert notes[0] == "jeu de caractères inconnu « x-klingon », détection automatique"


def test_undefined_cp1252_bytes_still_decode() -> None:
    assert decode_bytes(b"a\x81b\x8dc\xe9", None) == "a\x81b\x8dcé"


def test_clean_text_removes_nul_surrogates_and_crlf() -> None:
    assert clean_text("a\x00b\r\nc\ud800d\x07") == "ab\nc\ufffdd"


def test_normalise_charset() -> None:
    assert normalise_charset('"UTF8"') == "utf-8"
    assert normalise_charset("unknown-8bit") is None
    assert normalise_charset("") is None


def test_recover_bytes_reverses_surrogateescape() -> None:
    assert recover_bytes(b"caf\xe9".decode("ascii", "surrogateescape")) == b"caf\xe9"
