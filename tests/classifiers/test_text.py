"""The one normaliser of the classifier and the geocoder: folding, abbreviations, edit distance."""

from __future__ import annotations

import pytest

from classifiers.address.scan import Words
from classifiers.text import (
    ABBREVIATIONS,
    DOTTED_ONLY,
    STREET_TYPES,
    deletions,
    edit_distance,
    normalize_street,
    normalize_text,
    strip_accents,
)


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("Rue du Quatre-Septembre", "rue du 4 septembre"),  # the classifier's number words...
        ("Pl. du Trocadéro et du Onze Novembre", "place du trocadero et du 11 novembre"),
        ("Rés. les Tilleuls", "residence les tilleuls"),  # ...and the geocoder's abbreviations
        ("Lot. les Acacias", "lotissement les acacias"),
        ("Qu. de Jemmapes", "quai de jemmapes"),
        ("Rue du Prof. Gosset", "rue du professeur gosset"),
        ("Straße", "strasse"),
        ("Rue de l’Église", "rue de l eglise"),
    ],
)
def test_one_normal_form(name: str, normal: str) -> None:
    assert normalize_street(name) == normal


def test_folding() -> None:
    assert normalize_text("Œuvre À l’Été") == "oeuvre a l'ete"
    assert strip_accents("ﬁn du 2ᵉ Étage") == "fin du 2e etage"  # compatibility forms too, when no offsets matter
    assert all(normalize_street(t) == t for t in STREET_TYPES)
    assert DOTTED_ONLY <= set(ABBREVIATIONS)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("ça sent mauvais au lot de meubles", ["ca", "sent", "mauvais", "au", "lot", "de", "meubles"]),
        ("qu'il répare la rue", ["qu", "il", "repare", "la", "rue"]),
        (
            "au 3 lot. les acacias, qu. de jemmapes",
            ["au", "3", "lotissement", "les", "acacias", "quai", "de", "jemmapes"],
        ),
        ("r. de la paix, bd voltaire", ["rue", "de", "la", "paix", "boulevard", "voltaire"]),
    ],
)
def test_words_of_a_message_expand_dotted_only_abbreviations_with_their_dot(text: str, words: list[str]) -> None:
    assert Words(text, normalize_text(text)).words == words


def test_edit_distance_and_deletions() -> None:
    assert edit_distance("oberkampf", "oberkmapf", 2) == 1  # a swap counts one
    assert edit_distance("grenel", "grenelle", 2) == 2
    assert edit_distance("lyon", "paris", 2) == 3  # beyond the limit: limit + 1
    assert edit_distance("ca", "abc", 3) == 3  # optimal string alignment, not Damerau: no edit of a swapped pair
    assert deletions("rue", 1) == {"ue", "re", "ru"}
    assert deletions("rue", 2) == {"ue", "re", "ru", "u", "e", "r"}
