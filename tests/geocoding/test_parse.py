"""Free-text address lines parsed into AddressQuery."""

from __future__ import annotations

import pytest

from intake.geocoding.parse import parse_address
from intake.geocoding.protocol import AddressQuery


@pytest.mark.parametrize(
    ("text", "numero", "rep", "voie", "postcode", "city"),
    [
        ("72 r. des pyrenees 75020 paris", "72", None, "r des pyrenees", "75020", "paris"),
        ("39 avenue des Ternes, 75017 PARIS", "39", None, "avenue des ternes", "75017", "paris"),
        ("4bis Rue des Moines, 75017 PARIS", "4", "bis", "rue des moines", "75017", "paris"),
        ("2 bis Rue du Jourdain, 75020 PARIS", "2", "bis", "rue du jourdain", "75020", "paris"),
        ("61 Ter Boulevard de Charonne, 75011 PARIS", "61", "ter", "boulevard de charonne", "75011", "paris"),
        ("11t rue d'Alésia, 75014 PARIS", "11", "t", "rue d alesia", "75014", "paris"),
        ("3A Rue d'Avron, 75020 PARIS", "3", "a", "rue d avron", "75020", "paris"),
        ("12 B boulevard Voltaire", "12", "b", "boulevard voltaire", None, None),
        ("5 r des pyrenees", "5", None, "r des pyrenees", None, None),
        ("44-48 Rue de l'Aqueduc, 75010 PARIS", "44", None, "rue de l aqueduc", "75010", "paris"),
        ("113/115 Boulevard Suchet, 75016 PARIS", "113", None, "boulevard suchet", "75016", "paris"),
        ("1  Place de l'Opéra, 75002 PARIS", "1", None, "place de l opera", "75002", "paris"),
        ("08  Rue Joseph Kessel, 75012 PARIS", "8", None, "rue joseph kessel", "75012", "paris"),
        ("rue des pyrénées, 72", "72", None, "rue des pyrenees", None, None),
        ("rue des Pyrénées n°72 bis", "72", "bis", "rue des pyrenees", None, None),
        ("au 12 rue de la Paix", "12", None, "rue de la paix", None, None),
        ("rue des pyrenees paris 20e", None, None, "rue des pyrenees", None, "paris 20e"),
        ("rue des pyrenees, 20ème", None, None, "rue des pyrenees", None, "20eme"),
        ("16 boulevard Haussmann, Paris, France, Paris, France", "16", None, "boulevard haussmann", None, "paris"),
        ("Rue du 8 Mai 1945", None, None, "rue du 8 mai 1945", None, None),
        (
            "Place du Trocadéro et du 11 Novembre, 75016",
            None,
            None,
            "place du trocadero et du 11 novembre",
            "75016",
            None,
        ),
    ],
)
def test_parse_address(
    text: str, numero: str | None, rep: str | None, voie: str, postcode: str | None, city: str | None
) -> None:
    assert parse_address(text) == AddressQuery(voie=voie, numero=numero, rep=rep, code_postal=postcode, city=city)


@pytest.mark.parametrize(
    ("text", "first", "second"),
    [
        ("angle rue de Belleville et rue des Pyrénées", "rue de belleville", "rue des pyrenees"),
        ("à l'angle de la rue Saint-Maur et de la rue Oberkampf", "rue saint maur", "rue oberkampf"),
        ("croisement bd Voltaire / rue de Charonne, 75011 Paris", "bd voltaire", "rue de charonne"),
        ("rue de Rivoli x boulevard de Sébastopol", "rue de rivoli", "boulevard de sebastopol"),
    ],
)
def test_parse_intersection(text: str, first: str, second: str) -> None:
    q = parse_address(text)
    assert (q.voie, q.second_voie, q.numero) == (first, second, None)


def test_parse_nothing_usable() -> None:
    assert parse_address("").voie is None
    assert parse_address("75020 Paris").voie is None
