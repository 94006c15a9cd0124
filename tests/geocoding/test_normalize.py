"""Street-name normalization, street types and city labels."""

from __future__ import annotations

import pytest

from classifiers.text import STREET_TYPES, normalize_street
from intake.geocoding.normalize import city_label, core_tokens, split_type, street_kind, street_type


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Rue des Pyrénées", "rue des pyrenees"),
        ("r. des pyrenees", "rue des pyrenees"),
        ("R DES PYRÉNÉES", "rue des pyrenees"),
        ("Bd Voltaire", "boulevard voltaire"),
        ("boul. Voltaire", "boulevard voltaire"),
        ("bld voltaire", "boulevard voltaire"),
        ("Av. de l'Opéra", "avenue de l opera"),
        ("ave de l’opéra", "avenue de l opera"),
        ("Pl. de la République", "place de la republique"),
        ("Imp. Truillot", "impasse truillot"),
        ("All. des Acacias", "allee des acacias"),
        ("Sq. d'Anvers", "square d anvers"),
        ("Fg St-Antoine", "faubourg saint antoine"),
        ("Rue du Fbg Saint-Denis", "rue du faubourg saint denis"),
        ("Rue Ste-Anne", "rue sainte anne"),
        ("Qu. de Jemmapes", "quai de jemmapes"),
        ("Crs de Vincennes", "cours de vincennes"),
        ("Pass. Brady", "passage brady"),
        ("Rte de la Pyramide", "route de la pyramide"),
        ("Ch. du Bois Simon", "chemin du bois simon"),
        ("Chem. de Cercy", "chemin de cercy"),
        ("Rés. les Tilleuls", "residence les tilleuls"),
        ("Prom. Jean Moulin", "promenade jean moulin"),
        ("Vla des Lilas", "villa des lilas"),
        ("Cité Nouvelle", "cite nouvelle"),
        ("Lieu-dit Le Bois Rondot", "lieu dit le bois rondot"),
        ("Rue du Cœur-Volant", "rue du coeur volant"),
        ("  Rue   de  la   Paix ", "rue de la paix"),
        ("Rue Jeanne d’Arc", "rue jeanne d arc"),
        ("Av. du Gal Leclerc", "avenue du general leclerc"),
        ("Rue du 8 Mai 1945", "rue du 8 mai 1945"),
        ("", ""),
    ],
)
def test_normalize_street(text: str, expected: str) -> None:
    assert normalize_street(text) == expected


@pytest.mark.parametrize(
    ("normalized", "expected"),
    [
        ("rue des pyrenees", "rue"),
        ("boulevard voltaire", "boulevard"),
        ("rond point des champs elysees", "rond point"),
        ("lieu dit le bois rondot", "lieu dit"),
        ("cites nouvelles", "cite"),
        ("boulevards des marechaux", "boulevard"),
        ("bonvillers village", None),
        ("des pyrenees", None),
        ("", None),
    ],
)
def test_street_type(normalized: str, expected: str | None) -> None:
    assert street_type(normalized) == expected


def test_street_types_are_normalized_and_exported() -> None:
    assert {"rue", "avenue", "boulevard", "impasse", "allee", "chemin", "cite", "hameau", "lieu dit"} <= set(
        STREET_TYPES
    )
    assert all(normalize_street(t) == t for t in STREET_TYPES)


def test_core_tokens_drop_type_and_articles() -> None:
    assert core_tokens("rue de la grange aux belles") == ("grange", "belles")
    assert core_tokens("des pyrenees") == ("pyrenees",)
    assert split_type("avenue de l opera") == ("avenue", "de l opera")


def test_street_kind() -> None:
    assert street_kind("rue joffre") == "voie"
    assert street_kind("bonvillers village") == "lieu-dit"
    assert street_kind("hameau de cercy") == "lieu-dit"


@pytest.mark.parametrize(
    ("nom_commune", "label"),
    [
        ("Paris 20e Arrondissement", "Paris"),
        ("Paris 1er Arrondissement", "Paris"),
        ("Nouméa", "Nouméa"),
        ("PERRECY-LES-FORGES", "Perrecy-les-Forges"),
        ("Mont-Bonvillers", "Mont-Bonvillers"),
    ],
)
def test_city_label(nom_commune: str, label: str) -> None:
    assert city_label(nom_commune) == label
