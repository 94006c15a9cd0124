"""Shared fixtures of the address tests: the real Paris street extract, and checks of how it is loaded."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from classifiers.address import AddressExtractor, Gazetteer, StreetEntry, load_reference, normalize_street

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
PARIS = [ROOT / "tests/data/ban/adresses-paris-extrait.csv", SHARED / "ban/adresses-paris-extrait.csv"]
BAL = ROOT / "tests/data/ban/adresses-54084_Mont-Bonvillers_BAL1.3.csv"
LANDMARKS = [("École Jean Jaurès", ["ecole jean jaures", "l'école"]), ("Gare de Lyon", ["gare de lyon"])]


@cache
def paris_streets() -> tuple[StreetEntry, ...]:
    """The distinct streets of the BAN Paris extract (tests/data/ban, else ../shared/data/ban)."""
    for path in PARIS:
        if path.exists():
            return tuple(load_reference(path))
    pytest.skip("the BAN Paris extract is in neither tests/data/ban nor ../shared/data/ban")


@cache
def paris_extractor() -> AddressExtractor:
    """An extractor over the real Paris gazetteer, two landmarks, and the 11th's town hall to ignore.
    Each test module wraps it in its own `paris` fixture (importing a fixture trips the linter)."""
    return AddressExtractor(paris_streets(), landmarks=LANDMARKS, ignore=["12 place Léon Blum"])


def test_reference_loads_distinct_streets_with_codes() -> None:
    streets = paris_streets()
    assert len(streets) == len(set(streets)) > 3000
    assert StreetEntry("Rue des Pyrénées", "75020", "75120") in streets
    sebastopol = {s.postcode for s in streets if normalize_street(s.name) == "boulevard de sebastopol"}
    assert sebastopol == {"75001", "75002", "75003", "75004"}  # spelt "Boulevard" in three, "boulevard" in one


def test_gazetteer_merges_spellings_and_drops_numbered_names() -> None:
    gazetteer = Gazetteer(paris_streets())
    assert 2500 < len(gazetteer) < 3300
    assert gazetteer.streets["rue de charenton"].name == "Rue de Charenton"  # not "rue de Charenton"
    assert not any(key[0].isdigit() for key in gazetteer.streets)  # "& 21 Rue Béranger" is not a street name


@pytest.mark.skipif(not BAL.exists(), reason="tests/data/ban has no BAL 1.3 file")
def test_reference_reads_bal_files_without_postcode() -> None:
    streets = load_reference(BAL)
    assert StreetEntry("Rue Joffre", None, "54084") in streets
    found = AddressExtractor(streets).best("le lampadaire du 3 rue joffre est cassé")
    assert found is not None and (found.voie, found.numero, found.code_postal) == ("Rue Joffre", "3", None)
