"""Estimated positions: a number the reference lacks is placed between its neighbours, never replaced by one;
two streets cross where their lines meet; the French ways of writing a place are understood."""

from __future__ import annotations

import pytest

from intake.geocoding.estimate import CALIBRATION, MIN_UNCERTAINTY_M, crossing, estimate_number
from intake.geocoding.local import LocalGeocoder
from intake.geocoding.parse import parse_address, roman
from intake.geocoding.protocol import AddressQuery
from intake.geocoding.spatial import distance_m

# A straight street going east from (2.35, 48.85): even numbers on the north side, odd on the south, 1e-4° of
# longitude (about 7.3 m) per number step.
_STEP = 1e-4


def _street(numbers: list[int], *, lat: float = 48.85) -> dict[tuple[int, str], tuple[float, float]]:
    return {(n, ""): (2.35 + n * _STEP, lat + (0.0001 if n % 2 == 0 else -0.0001)) for n in numbers}


def test_a_missing_number_is_interpolated_on_its_own_side() -> None:
    points = _street([2, 4, 10, 1, 3, 5, 7, 9, 11])
    guess = estimate_number(points, 8)
    assert guess is not None and guess.method == "interpolation" and guess.between == ("4", "10")
    # two thirds of the way from the 4 to the 10, on the even (north) side: not on the odd side's 7 or 9
    assert guess.lon == pytest.approx(2.35 + 8 * _STEP) and guess.lat == pytest.approx(48.8501)
    gap = distance_m(48.8501, 2.35 + 4 * _STEP, 48.8501, 2.35 + 10 * _STEP)
    assert guess.uncertainty_m == pytest.approx((gap / 3 + MIN_UNCERTAINTY_M) * CALIBRATION["interpolation"], abs=0.1)


def test_a_number_past_the_last_one_is_extrapolated_along_the_street() -> None:
    guess = estimate_number(_street([2, 4, 6]), 10)
    assert guess is not None and guess.method == "extrapolation" and guess.between == ("6",)
    assert guess.lon == pytest.approx(2.35 + 10 * _STEP, abs=1e-7)  # four steps on, as the 2-4-6 go
    near = estimate_number(_street([2, 4, 6]), 8)
    assert near is not None and near.uncertainty_m < guess.uncertainty_m  # further from the last: less sure


def test_only_the_other_side_known_is_an_estimate_across_the_street() -> None:
    guess = estimate_number(_street([1, 3, 9]), 6)
    assert guess is not None and guess.method == "autre côté"
    assert guess.lat == pytest.approx(48.8499)  # the odd side's line: the street's width is in the uncertainty
    alone = estimate_number(_street([1, 3, 9]), 5)
    assert alone is not None and alone.method == "interpolation"
    assert guess.uncertainty_m > alone.uncertainty_m


def test_a_known_number_with_another_repetition_index_stays_at_its_number() -> None:
    guess = estimate_number(_street([2, 4]), 4)
    assert guess is not None and guess.method == "rep" and guess.uncertainty_m == MIN_UNCERTAINTY_M
    assert estimate_number({}, 4) is None


def test_held_out_numbers_of_the_ban_fall_within_their_stated_uncertainty(paris: LocalGeocoder) -> None:
    # Remove each number that has a neighbour on each side of its own side, estimate it, compare with the BAN.
    errors, covered = [], 0
    for street in paris.streets():
        side = sorted(n for n, r in street.points if r == "")
        for n in side:
            same = [m for m in side if m % 2 == n % 2]
            if not (min(same) < n < max(same)):
                continue
            others = {k: v for k, v in street.points.items() if k[0] != n}
            guess = estimate_number(others, n)
            assert guess is not None and guess.method == "interpolation"
            lon, lat = street.points[(n, "")]
            error = distance_m(lat, lon, guess.lat, guess.lon)
            errors.append(error)
            covered += error <= guess.uncertainty_m
    assert len(errors) > 300
    errors.sort()
    assert errors[len(errors) // 2] < 30  # median error of an interpolated number, in metres
    assert covered / len(errors) > 0.8  # the stated uncertainty holds for most


def test_geocoding_a_missing_number_never_shows_another_number(paris: LocalGeocoder) -> None:
    street = next(s for s in paris.streets() if s.normalized == "rue des lilas")
    assert (12, "") not in street.points  # the measured case of issue 14: "12 rue des Lilas" became "4 Rue des Lilas"
    r = paris.geocode("12 rue des Lilas")
    assert r is not None and r.label.startswith("12 Rue des Lilas") and r.housenumber == "12"
    assert r.estimated and not r.number_found and r.uncertainty_m is not None
    rivoli = paris.geocode("12 rue de Rivoli")
    assert rivoli is not None and rivoli.label.startswith("12 Rue de Rivoli") and rivoli.estimated
    exact = paris.geocode("72 rue des Pyrénées")
    assert exact is not None and not exact.estimated and exact.uncertainty_m is None


def test_a_number_on_a_street_without_numbers_is_at_its_centre_of_unknown_precision() -> None:
    street = {
        "id": 1,
        "citycode": "75120",
        "postcode": "75020",
        "city": "Paris",
        "name": "Villa Sans Numéro",
        "kind": "voie",
        "lon": 2.4,
        "lat": 48.86,
    }
    geocoder = LocalGeocoder.from_rows([street], [])
    r = geocoder.geocode("7 villa sans numero")
    assert r is not None and r.label == "7 Villa Sans Numéro 75020 Paris" and r.type == "street"
    assert r.estimated and r.uncertainty_m is None and (r.lon, r.lat) == (2.4, 48.86)


def test_two_perpendicular_streets_cross_where_their_lines_meet() -> None:
    # An east-west street along lat 48.85 and a north-south one along lon 2.36 whose points stop 40 m short.
    east = [(48.85 + d, 2.35 + k * 0.0002) for k in range(10) for d in (0.0001, -0.0001)]
    north = [(48.8504 + k * 0.0002, 2.36 + d) for k in range(10) for d in (0.00013, -0.00013)]
    (lat, lon), uncertainty, gap = crossing(east, north)
    assert distance_m(lat, lon, 48.85, 2.36) < 5  # the corner itself, not the middle of the closest points
    assert gap > 25 and uncertainty >= MIN_UNCERTAINTY_M
    parallel = [(48.8510 + d, 2.35 + k * 0.0002) for k in range(10) for d in (0.0001, -0.0001)]
    (plat, _), _, _ = crossing(east, parallel)
    assert 48.85 < plat < 48.851  # no crossing: between the two, where they come closest


def test_intersections_are_marked_as_estimated_crossings(paris: LocalGeocoder) -> None:
    r = paris.geocode(AddressQuery(voie="Rue de Belleville", second_voie="Rue des Pyrénées"))
    assert r is not None and r.type == "intersection" and r.estimated and r.uncertainty_m is not None
    assert r.uncertainty_m < 40


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("v", 5),
        ("xv", 15),
        ("xi", 11),
        ("xx", 20),
        ("xix", 19),
        ("iv", 4),
        ("i", 1),
        ("xxi", None),
        ("vv", None),
        ("iiii", None),
    ],
)
def test_roman_numerals_of_arrondissements(written: str, value: int | None) -> None:
    assert roman(written) == value


@pytest.mark.parametrize(
    ("text", "city"),
    [
        ("5 rue de Charonne XIe", "11e"),
        ("3 rue Mouffetard Ve", "5e"),
        ("3 rue Mouffetard, Ve arrondissement", "5e arrondissement"),
        ("rue des Pyrénées XXème", "20e"),
        ("5 rue de Charonne, Paris XI", "paris 11e"),
        ("5 rue de Charonne Paris 11e", "paris 11e"),
    ],
)
def test_arrondissement_hints_in_roman_or_arabic_numerals(text: str, city: str) -> None:
    assert parse_address(text).city == city


def test_roman_names_of_streets_are_left_alone() -> None:
    assert parse_address("12 rue Louis XVI").voie == "rue louis xvi"
    assert parse_address("2 rue Pie XII, Paris").voie == "rue pie xii"


@pytest.mark.parametrize(
    ("text", "street", "postcode"),
    [
        ("5 rue de Charonne XIe", "Rue de Charonne", "75011"),
        ("3 rue Mouffetard Ve", "Rue Mouffetard", "75005"),
        ("12 r. St-Antoine", "Rue Saint-Antoine", "75004"),
        ("40 bd Rochechouart", "Boulevard Marguerite de Rochechouart", None),
        ("3 av. de la Rép.", "Avenue de la République", "75011"),
        ("3 av. de la Rép., 75011 Paris", "Avenue de la République", "75011"),
    ],
)
def test_french_short_forms_are_geocoded(paris: LocalGeocoder, text: str, street: str, postcode: str | None) -> None:
    r = paris.geocode(text)
    assert r is not None and r.street == street and r.score >= 0.5
    assert postcode is None or r.postcode == postcode
    assert r.label.startswith(text.split()[0] + " ")  # the number written, whatever the reference has
