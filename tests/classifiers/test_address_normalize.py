"""The small pieces under the extractor: normalisation, the typo index, postcodes, house numbers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from classifiers.address import numbers
from classifiers.address.fuzzy import DeletionIndex
from classifiers.address.postcodes import Postcodes, arrondissements
from classifiers.text import deletions, normalize_street, normalize_text, offsets
from classifiers.text import edit_distance as distance

PARIS_CODES = [f"750{n:02d}" for n in range(1, 21)] + ["75116"]


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("Rue du Faubourg Saint-Antoine", "rue du faubourg saint antoine"),
        ("R. du Fg St-Antoine", "rue du faubourg saint antoine"),
        ("BD de l’Hôpital", "boulevard de l hopital"),
        ("Impasse des Bœufs", "impasse des boeufs"),
        ("av. Ledru-Rollin", "avenue ledru rollin"),
        ("pl. Léon Blum", "place leon blum"),
        ("imp. Daunay", "impasse daunay"),
        ("all. Vivaldi", "allee vivaldi"),
        ("sq. Ste-Marie", "square sainte marie"),
        ("qu. de Jemmapes", "quai de jemmapes"),
        ("crs de Vincennes", "cours de vincennes"),
        ("pass. Brady", "passage brady"),
        ("rte de la Pyramide", "route de la pyramide"),
        ("ch. du Parc", "chemin du parc"),
        ("Rue du Quatre-Septembre", "rue du 4 septembre"),
        ("  rue   des  Pyre\u0301ne\u0301es ", "rue des pyrenees"),
    ],
)
def test_normalize_street(name: str, normal: str) -> None:
    assert normalize_street(name) == normal


def test_normalize_text_keeps_offsets() -> None:
    text = "Trou au 72 R. des Pyrénées, l’école"
    assert normalize_text(text) == "trou au 72 r. des pyrenees, l'ecole"
    assert len(normalize_text(text)) == len(text)
    odd = "Cœur Pyre\u0301ne\u0301es"  # a ligature grows, combining accents vanish
    norm = normalize_text(odd)
    assert norm == "coeur pyrenees"
    where = offsets(odd)
    assert len(where) == len(norm) + 1
    assert odd[where[norm.index("pyrenees")] : where[len(norm)]] == "Pyre\u0301ne\u0301es"


def test_deletions_and_distance() -> None:
    assert deletions("rue", 1) == {"ue", "re", "ru"}
    assert "grenel" in deletions("grenelle", 2)
    assert distance("oberkampf", "oberkmapf", 2) == 1  # a swap counts one
    assert distance("pyrenees", "pyrenes", 2) == 1
    assert distance("grenel", "grenelle", 2) == 2
    assert distance("lyon", "paris", 2) == 3  # beyond the limit: limit + 1


def test_deletion_index_finds_near_words_only() -> None:
    index = DeletionIndex(["pyrenees", "charenton", "grenelle", "lyon", "bac"])
    accept = lambda word: True  # noqa: E731
    assert index.candidates("pyrenes", 2, accept) == [(1, "pyrenees")]
    assert index.candidates("charentin", 1, accept) == [(1, "charenton")]
    assert index.candidates("grenel", 2, accept) == [(2, "grenelle")]  # long word: two edits
    assert index.candidates("grenel", 1, accept) == []  # over the budget
    assert index.candidates("lian", 2, accept) == []  # short word: one edit only
    assert index.candidates("bak", 2, accept) == []  # too short to guess
    assert index.candidates("pyrenes", 2, lambda word: word != "pyrenees") == []


def test_arrondissements() -> None:
    table = arrondissements(PARIS_CODES + ["92300"])
    assert table[11] == ("75011",) and table[16] == ("75016", "75116") and len(table) == 20
    assert arrondissements(["54110", "54000"]) == {}  # a commune without arrondissements


@pytest.mark.parametrize(
    ("words", "at", "codes"),
    [
        (["rue", "x", "75011", "paris"], 2, ("75011",)),
        (["rue", "x", "paris", "11e"], 2, ("75011",)),
        (["rue", "x", "paris", "11"], 2, ("75011",)),
        (["rue", "x", "11eme"], 2, ("75011",)),
        (["rue", "x", "1er", "arrondissement"], 2, ("75001",)),
        (["rue", "x", "dans", "le", "16e"], 2, ("75016", "75116")),
        (["rue", "x", "99999"], 2, ()),  # not a postcode of the commune
        (["rue", "x", "ne", "11e"], 2, ()),  # too far
    ],
)
def test_postcode_near_a_street(words: list[str], at: int, codes: tuple[str, ...]) -> None:
    assert Postcodes(PARIS_CODES).near(words, at) == codes


def test_postcode_anywhere_needs_a_clear_arrondissement() -> None:
    postcodes = Postcodes(PARIS_CODES)
    assert postcodes.anywhere("au 3e etage".split(), lambda j: True) == ()
    assert postcodes.anywhere("dans le 3e ca deborde".split(), lambda j: True) == ("75003",)
    assert postcodes.anywhere("le 3e arrondissement".split(), lambda j: True) == ("75003",)
    assert postcodes.anywhere("paris 3e".split(), lambda j: j != 1) == ()  # refused: in a signature, say


def _gap(words: list[str]) -> Callable[[int], str]:
    return lambda k: "-" if words[k - 1 : k + 1] == ["10", "12"] else " "


@pytest.mark.parametrize(
    ("text", "start", "numero", "rep"),
    [
        ("au 12 rue", 2, "12", None),
        ("au 12bis rue", 2, "12", "bis"),
        ("au 12 ter rue", 3, "12", "ter"),
        ("au 12 b rue", 3, "12", "bis"),
        ("au 24 m rue", 3, "24", "m"),
        ("n 12 de la rue", 4, "12", None),
        ("devant le 10 12 rue", 4, "10", None),
        ("au 012 rue", 2, "12", None),
    ],
)
def test_number_before(text: str, start: int, numero: str, rep: str | None) -> None:
    words = text.split()
    found = numbers.before(words, _gap(words), start)
    assert found is not None and (found.numero, found.rep) == (numero, rep)


@pytest.mark.parametrize(
    ("text", "numero", "apart"),
    [
        ("rue n 12", "12", False),
        ("rue n12", "12", False),
        ("rue 178", "178", False),
        ("rue au niveau du 10", "10", True),
        ("rue est sale surtout devant le 9", "9", True),
        ("rue depuis 3 jours", None, False),
        ("rue le 12 mai", None, False),
        ("rue 12 rue", None, False),  # the next street's number
    ],
)
def test_number_after(text: str, numero: str | None, apart: bool) -> None:
    words = text.split()
    limit = words.index("rue", 1) if "rue" in words[1:] else len(words)
    found = numbers.after(words, _gap(words), 1, limit)
    assert (found and (found.numero, found.apart)) == ((numero, apart) if numero else None)
