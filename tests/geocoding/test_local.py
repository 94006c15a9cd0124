"""LocalGeocoder over the real fixture files: exact, fuzzy, numbers, narrowing, intersections, reverse."""

from __future__ import annotations

import time

import pytest

from intake.geocoding.local import LocalGeocoder
from intake.geocoding.matcher import Street
from intake.geocoding.protocol import AddressQuery, Geocoder
from intake.geocoding.spatial import distance_m
from tests.geocoding.conftest import DUMBEA, MONT_BONVILLERS, NOUMEA, PERRECY

PYRENEES_72 = (2.405865, 48.853840)  # lon, lat of "72 Rue des Pyrénées" in adresses-paris-extrait.csv


def _street(g: LocalGeocoder, citycode: str, normalized: str) -> Street:
    return next(s for s in g.streets() if s.citycode == citycode and s.normalized == normalized)


def test_is_a_geocoder(paris: LocalGeocoder) -> None:
    geocoder: Geocoder = paris
    assert geocoder.geocode("72 Rue des Pyrénées") is not None


def test_exact_housenumber_shaped_like_the_national_api(paris: LocalGeocoder) -> None:
    r = paris.geocode("72 Rue des Pyrénées")
    assert r is not None
    assert (r.label, r.type, r.housenumber, r.street) == (
        "72 Rue des Pyrénées 75020 Paris",
        "housenumber",
        "72",
        "Rue des Pyrénées",
    )
    assert (r.postcode, r.citycode, r.city, r.score, r.number_found) == ("75020", "75120", "Paris", 1.0, True)
    assert (r.lon, r.lat) == PYRENEES_72


@pytest.mark.parametrize(
    "query",
    [
        "72 r. des pyrenees 75020 paris",
        "72 R DES PYRENEES",
        "72 rue des pyrenees",
        "72, rue des Pyrénées, Paris",
        "rue des Pyrénées n°72",
        AddressQuery(voie="Rue des Pyrénées", numero="72", code_postal="75020"),
    ],
)
def test_abbreviations_case_and_accents(paris: LocalGeocoder, query: str | AddressQuery) -> None:
    r = paris.geocode(query)
    assert r is not None and (r.lon, r.lat) == PYRENEES_72 and r.score == 1.0


@pytest.mark.parametrize(
    "query", ["72 rue des pyrennees", "72 rue des pyrenes", "72 rue des pyernees", "72 rue des pyrénés 75020"]
)
def test_one_letter_typo(paris: LocalGeocoder, query: str) -> None:
    r = paris.geocode(query)
    assert r is not None and (r.lon, r.lat) == PYRENEES_72
    assert 0.8 <= r.score < 1.0


def test_typo_in_the_street_type(paris: LocalGeocoder) -> None:
    r = paris.geocode("39 avnue des Ternes")
    assert r is not None and r.label == "39 Avenue des Ternes 75017 Paris"


def test_missing_street_type(paris: LocalGeocoder) -> None:
    r = paris.geocode("des pyrenees")
    assert r is not None and r.street == "Rue des Pyrénées" and r.type == "street"
    assert 0.85 <= r.score < 1.0


def test_missing_number_gives_the_street_centre(paris: LocalGeocoder) -> None:
    r = paris.geocode("Rue des Pyrénées")
    street = _street(paris, "75120", "rue des pyrenees")
    assert r is not None and r.type == "street" and r.housenumber is None and r.label == "Rue des Pyrénées 75020 Paris"
    lons, lats = zip(*street.points.values(), strict=True)
    assert abs(r.lon - sum(lons) / len(lons)) < 1e-6 and abs(r.lat - sum(lats) / len(lats)) < 1e-6


def test_unknown_number_keeps_the_citizens_number_and_is_estimated(paris: LocalGeocoder) -> None:
    street = _street(paris, "75120", "rue des pyrenees")
    assert (71, "") not in street.points
    r = paris.geocode("71 rue des Pyrénées")
    assert r is not None and r.type == "housenumber" and r.number_found is False
    assert (r.housenumber, r.label) == ("71", "71 Rue des Pyrénées 75020 Paris")  # never another number
    assert r.estimated and r.uncertainty_m is not None and r.uncertainty_m > 0
    assert (r.lon, r.lat) not in street.points.values()  # not a neighbour's point passed off as the 71
    assert all(int(n) % 2 == 1 for n in r.details["between"])  # drawn from the odd side only
    assert r.details["requested_housenumber"] == "71"
    assert 0.6 <= r.score <= 0.8


def test_bis_and_ter(paris: LocalGeocoder) -> None:
    plain, bis = paris.geocode("2 rue du Jourdain 75020"), paris.geocode("2 bis rue du Jourdain 75020")
    assert plain is not None and bis is not None
    street = _street(paris, "75120", "rue du jourdain")
    assert (plain.housenumber, (plain.lon, plain.lat)) == ("2", street.points[(2, "")])
    assert (bis.housenumber, (bis.lon, bis.lat)) == ("2bis", street.points[(2, "bis")])
    assert bis.label == "2bis Rue du Jourdain 75020 Paris"
    ter = paris.geocode("11 ter rue d'Alésia")  # the file spells it "t"
    assert ter is not None and ter.housenumber == "11t" and ter.number_found
    four_b = paris.geocode("4b rue des Moines")  # the file spells it "bis"
    assert four_b is not None and four_b.housenumber == "4bis"
    missing_rep = paris.geocode("10 ter rue du Jourdain")
    assert missing_rep is not None and missing_rep.housenumber == "10ter" and missing_rep.number_found is False
    assert missing_rep.estimated and (missing_rep.lon, missing_rep.lat) == street.points[(10, "")]
    assert missing_rep.label == "10ter Rue du Jourdain 75020 Paris"


@pytest.mark.parametrize(
    ("query", "citycode"),
    [
        ("Rue de Rivoli 75004", "75104"),
        ("Rue de Rivoli 75001 Paris", "75101"),
        ("rue de rivoli paris 4e", "75104"),
        (AddressQuery(voie="Rue de Rivoli", city="4ème"), "75104"),
        (AddressQuery(voie="Rue de Rivoli", city="Paris 1er"), "75101"),
        ("70 rue de Rivoli", "75104"),  # no postcode: the arrondissement that has the number
        ("172 rue de Rivoli", "75101"),
    ],
)
def test_postcode_and_arrondissement_narrowing(paris: LocalGeocoder, query: str | AddressQuery, citycode: str) -> None:
    r = paris.geocode(query)
    assert r is not None and r.citycode == citycode and r.score >= 0.9


def test_citycode_argument(paris: LocalGeocoder) -> None:
    assert (r := paris.geocode("Rue de Rivoli", citycode="75104")) is not None and r.citycode == "75104"
    assert (r := paris.geocode("Rue de Rivoli", citycode="75056")) is not None and r.city == "Paris"
    assert paris.geocode("Rue des Pyrénées", citycode="75104") is None
    assert paris.geocode("Rue des Pyrénées", citycode="69123") is None


def test_postcode_disagreement_and_foreign_postcode_score_low(paris: LocalGeocoder) -> None:
    other = paris.geocode("72 rue des Pyrénées 75011")
    assert other is not None and other.citycode == "75120" and other.score == pytest.approx(0.85)
    foreign = paris.geocode("72 rue des Pyrénées 69001 Lyon")
    assert foreign is not None and foreign.score < 0.5


def test_near_miss_is_not_a_typo(paris: LocalGeocoder) -> None:
    r = paris.geocode("15 rue des Pyramides")
    assert r is not None and r.street == "Rue des Pyramides"
    assert paris.geocode("rue des Pyrrhus") is None
    assert paris.geocode("rue Inconnue du Bataillon") is None


def test_intersection_of_two_crossing_streets(paris: LocalGeocoder) -> None:
    r = paris.geocode(AddressQuery(voie="Rue de Belleville", second_voie="Rue des Pyrénées"))
    assert r is not None and r.type == "intersection" and r.citycode == "75120"
    assert r.label == "Rue de Belleville / Rue des Pyrénées 75020 Paris"
    assert isinstance(r.details["distance_m"], float) and r.details["distance_m"] < 20
    for name in ("rue de belleville", "rue des pyrenees"):
        street = _street(paris, "75120", name)
        assert min(distance_m(r.lat, r.lon, lat, lon) for lon, lat in street.points.values()) < 15
    free = paris.geocode("à l'angle de la rue Saint-Maur et de la rue Oberkampf")
    assert free is not None and free.type == "intersection" and free.citycode == "75111"
    assert isinstance(free.details["distance_m"], float) and free.details["distance_m"] < 40


def test_street_of_another_commune_is_rejected(caledonia: LocalGeocoder) -> None:
    assert caledonia.geocode("12 Rue du Banian", citycode=DUMBEA) is not None
    assert caledonia.geocode("12 Rue du Banian", citycode=NOUMEA) is None
    assert caledonia.geocode("Rue du Banian 98835", citycode=NOUMEA) is None
    near = caledonia.geocode("Rue du Gaiac", citycode=NOUMEA)  # Dumbéa's, close to Nouméa's "Rue des GAIACS"
    assert near is None or near.score < 0.5
    assert (own := caledonia.geocode("Rue des Gaiacs", citycode=NOUMEA)) is not None and own.score >= 0.9
    assert (r := caledonia.geocode("Rue du Gaiac")) is not None and r.citycode == DUMBEA


def test_overseas_labels(caledonia: LocalGeocoder) -> None:
    r = caledonia.geocode("Rue du Banian", citycode=DUMBEA)
    assert r is not None and r.label == "Rue du Banian 98835 Dumbéa" and r.city == "Dumbéa"


def test_bal_communes_without_postcode() -> None:
    g = LocalGeocoder.from_files([MONT_BONVILLERS, PERRECY])
    r = g.geocode("1 rue Joffre")
    assert r is not None and r.label == "1 Rue Joffre Mont-Bonvillers" and r.postcode is None
    place = g.geocode("le bois simon")
    assert place is not None and place.details["street_kind"] == "lieu-dit" and place.city == "Perrecy-les-Forges"
    assert (c := g.geocode("33 C rue du Bois Simon")) is not None and c.housenumber == "33c"
    # the files give no postcode: the commune's own is accepted, one of another département is foreign
    assert (own := g.geocode("1 rue Joffre, 54150 Mont-Bonvillers")) is not None and own.score == 1.0
    assert (foreign := g.geocode("1 rue Joffre 75020 Paris")) is not None and foreign.score < 0.5


def test_reverse(paris: LocalGeocoder) -> None:
    r = paris.reverse(PYRENEES_72[1], PYRENEES_72[0])
    assert r is not None and r.label == "72 Rue des Pyrénées 75020 Paris" and r.type == "housenumber"
    near = paris.reverse(48.8539, 2.4059)  # 7 m away
    assert near is not None and near.housenumber == "72" and 0.9 < near.score < 1.0
    assert paris.reverse(48.0, 2.0) is None


def test_inside_commune(paris: LocalGeocoder, caledonia: LocalGeocoder) -> None:
    assert paris.inside_commune(48.8530, 2.3499)  # Notre-Dame
    assert not paris.inside_commune(48.8049, 2.1204)  # Versailles
    west = min((p for s in paris.streets() for p in s.points.values()), key=lambda p: p[0])
    outside = (west[1], west[0] - 200 / (111_195 * 0.6578))  # 200 m west of the westernmost point
    assert paris.inside_commune(*outside, margin_m=300)
    assert not paris.inside_commune(*outside, margin_m=100)
    banian = _street(caledonia, DUMBEA, "rue du banian")
    assert caledonia.inside_commune(banian.lat, banian.lon)
    assert caledonia.inside_commune(banian.lat, banian.lon, citycode=DUMBEA)
    assert not caledonia.inside_commune(banian.lat, banian.lon, citycode=NOUMEA)


def test_from_rows() -> None:
    g = LocalGeocoder.from_rows(
        [
            {
                "id": 1,
                "citycode": "54084",
                "postcode": None,
                "city": "Mont-Bonvillers",
                "name": "Rue Joffre",
                "lon": 5.8336,
                "lat": 49.3222,
            }
        ],
        [{"street_id": 1, "numero": 1, "rep": "", "lon": 5.833622, "lat": 49.322203}],
    )
    r = g.geocode("1 r joffre")
    assert r is not None and (r.lon, r.lat, r.score) == (5.833622, 49.322203, 1.0)


def test_fuzzy_queries_take_under_a_millisecond(paris: LocalGeocoder) -> None:
    streets = [s for s in paris.streets() if len(s.core) and s.points][:300]
    queries = []
    for s in streets:
        word = max(s.core, key=len)
        typo = word[:2] + word[3:] if len(word) > 4 else word
        queries.append(f"{min(s.points)[0]} {s.normalized.replace(word, typo, 1)}")
    paris.geocode(queries[0])
    started = time.perf_counter()
    found = sum(paris.geocode(q) is not None for q in queries)
    per_query = (time.perf_counter() - started) / len(queries)
    assert found >= 0.95 * len(queries)
    assert per_query < 1e-3, f"{per_query * 1000:.2f} ms per query"
