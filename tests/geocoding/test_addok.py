"""AddokGeocoder against a REAL addok server on loopback (its own venv, test Redis dbs 14-15), plus tiny stubs.

The server (tests/support/addok.py) imports Paris 11e from the BAN CSV extract and a few streets of Nouméa,
with the national API's addok configuration; failure modes (down, hanging, HTTP 500, bad JSON) use stubs.
"""

from __future__ import annotations

import csv
import json
import math
import os
import socket
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis

from classifiers.address import AddressExtractor, StreetEntry
from intake.config import Config
from intake.geocoding.addok import AddokGeocoder, GeocoderUnavailable, expand_citycodes, parse_feature
from intake.geocoding.local import LocalGeocoder
from intake.geocoding.protocol import AddressQuery, Geocoder
from intake.pipeline.understanding import Understanding
from tests.support.addok import DATA, AddokServer, AddokUnavailable


def _csv_rows() -> list[dict[str, str]]:
    with (DATA / "adresses-paris-11e-extrait.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


CSV_ROWS = _csv_rows()
CSV_BY_ID = {row["id"]: row for row in CSV_ROWS}


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


@pytest.fixture(scope="session")
def addok() -> Iterator[AddokServer]:
    """The real addok server, shared by the whole session."""
    server = AddokServer()
    try:
        server.start()
    except (AddokUnavailable, redis.RedisError, OSError) as exc:
        reason = f"no real addok server here (scripts/ensure-addok.sh, Redis on 127.0.0.1:6379): {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI must not go green by skipping the real-server tests
        pytest.skip(reason)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def paris(addok: AddokServer) -> AddokGeocoder:
    """A geocoder for the town of Paris (75056 stands for its 20 arrondissements)."""
    return AddokGeocoder(addok.base_url, citycodes=("75056",))


@pytest.fixture(scope="session")
def anywhere(addok: AddokServer) -> AddokGeocoder:
    """A geocoder restricted to no commune, as for a national search."""
    return AddokGeocoder(addok.base_url)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def stub() -> Iterator[Callable[[int, bytes], str]]:
    """A tiny local HTTP server answering every GET with the given status and body; returns its base URL."""
    servers: list[tuple[ThreadingHTTPServer, threading.Thread]] = []

    def start(status: int, body: bytes) -> str:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_is_a_geocoder() -> None:
    geocoder: Geocoder = AddokGeocoder("http://127.0.0.1:7878")
    assert geocoder is not None
    with pytest.raises(ValueError):
        AddokGeocoder("file:///etc/passwd")


@pytest.mark.parametrize(
    "address_id",
    [
        "75111_ruefaidher_00040",
        "75111_ruefaidher_00011_b",
        "75111_boulevardv_00226_bis",
        "75111_ruedecharo_00086",
        "75111_avenueparm_00011_bis",
        "75111_rueamelot_00056",
    ],
)
def test_exact_address_is_the_housenumber_of_the_ban(paris: AddokGeocoder, address_id: str) -> None:
    row = CSV_BY_ID[address_id]
    rep = {"b": "bis", "t": "ter"}.get(row["rep"], row["rep"])
    for query in (
        f"{row['numero']} {rep} {row['nom_voie']} {row['code_postal']} Paris",
        AddressQuery(voie=row["nom_voie"], numero=row["numero"], rep=rep or None, code_postal=row["code_postal"]),
    ):
        result = paris.geocode(query)
        assert result is not None, query
        assert result.type == "housenumber", result
        assert result.housenumber == row["numero"] + row["rep"]
        assert result.street == row["nom_voie"]
        assert (result.postcode, result.citycode, result.city) == ("75011", "75111", "Paris")
        assert result.number_found
        assert result.label.startswith(f"{row['numero']}{row['rep']} {row['nom_voie']} 75011 Paris")
        assert _distance_m(result.lat, result.lon, float(row["lat"]), float(row["lon"])) < 5
        assert result.score > 0.6
        assert result.details["district"] == "Paris 11e Arrondissement"


def test_every_address_of_the_slice_comes_back_at_its_place(paris: AddokGeocoder) -> None:
    # The extract has a few addresses twice under two spellings ("avenue Parmentier", "Avenue Parmentier"),
    # each with its own point: addok cannot tell those apart, so they are left out.
    def key(row: dict[str, str]) -> tuple[str, str, str]:
        name = unicodedata.normalize("NFKD", row["nom_voie"]).encode("ascii", "ignore").decode().lower()
        return row["numero"], row["rep"], " ".join(name.replace("-", " ").replace("'", " ").split())

    spellings = Counter(key(row) for row in CSV_ROWS)
    sample = [row for row in CSV_ROWS if spellings[key(row)] == 1]
    assert len(sample) > 650
    misses = []
    for row in sample:
        result = paris.geocode(
            AddressQuery(voie=row["nom_voie"], numero=row["numero"], rep=row["rep"] or None, code_postal="75011")
        )
        if result is None or _distance_m(result.lat, result.lon, float(row["lat"]), float(row["lon"])) > 5:
            misses.append((row["numero"], row["rep"], row["nom_voie"], result and result.label))
    assert misses == []


def test_street_only_is_a_street(paris: AddokGeocoder) -> None:
    result = paris.geocode("Rue de Charonne Paris")
    assert result is not None
    assert (result.type, result.street, result.housenumber, result.citycode) == (
        "street",
        "Rue de Charonne",
        None,
        "75111",
    )
    assert result.number_found  # no number was asked for
    structured = paris.geocode(AddressQuery(voie="rue de charonne", code_postal="75011"))
    assert structured is not None and structured.label == "Rue de Charonne 75011 Paris"


def test_unknown_number_keeps_the_citizens_number_on_the_street(paris: AddokGeocoder) -> None:
    assert not any(r["nom_voie"] == "Rue Faidherbe" and r["numero"] == "7" for r in CSV_ROWS)
    for query in (AddressQuery(voie="Rue Faidherbe", numero="7", code_postal="75011"), "7 rue Faidherbe 75011"):
        result = paris.geocode(query)
        assert result is not None
        assert (result.type, result.street, result.number_found) == ("street", "Rue Faidherbe", False)
        # addok answers with the street: never another number, the citizen's kept, the position an estimate
        assert (result.label, result.housenumber) == ("7 Rue Faidherbe 75011 Paris", "7")
        assert result.estimated and result.uncertainty_m is None
        assert result.details["server_label"] == "Rue Faidherbe 75011 Paris"


def test_addok_estimates_are_placed_by_the_embedded_reference(
    paris: AddokGeocoder, make_config: Callable[..., Config]
) -> None:
    # The town's Understanding with addok as its geocoder and the same extract as its embedded reference: the
    # missing number is placed between its neighbours, the intersection at the streets' crossing.
    local = LocalGeocoder.from_files([DATA / "adresses-paris-11e-extrait.csv"])
    extractor = AddressExtractor(
        [StreetEntry(s.name, s.postcode, s.citycode) for s in local.streets()], postcodes=["75011"]
    )
    understanding = Understanding(make_config(), model=None, extractor=extractor, geocoder=paris, local=local)
    _, result = understanding.locate_text("", "Un lampadaire est éteint devant le 7 rue Faidherbe")
    estimate = local.geocode("7 rue Faidherbe 75011")
    assert result is not None and estimate is not None and estimate.uncertainty_m is not None
    assert (result.label, result.estimated) == ("7 Rue Faidherbe 75011 Paris", True)
    assert (result.lon, result.lat, result.uncertainty_m) == (estimate.lon, estimate.lat, estimate.uncertainty_m)
    assert result.details["estimated_by"] == "référence embarquée"
    _, corner = understanding.locate_text(
        "", "Un lampadaire est éteint à l'angle de la rue Faidherbe et de la rue de Charonne"
    )
    crossing = local.geocode(AddressQuery(voie="Rue Faidherbe", second_voie="Rue de Charonne"))
    assert corner is not None and crossing is not None and corner.type == "intersection"
    assert (corner.lon, corner.lat, corner.uncertainty_m) == (crossing.lon, crossing.lat, crossing.uncertainty_m)
    a = CSV_BY_ID["75111_ruefaidher_00044"]  # next to the real corner, with 88 Rue de Charonne
    assert _distance_m(corner.lat, corner.lon, float(a["lat"]), float(a["lon"])) < 60


def test_citycode_filter_is_sent_to_the_server(anywhere: AddokGeocoder) -> None:
    noumea = anywhere.geocode("Rue Faidherbe", citycode="98818")
    paris = anywhere.geocode("Rue Faidherbe", citycode="75111")
    assert noumea is not None and (noumea.citycode, noumea.city) == ("98818", "Nouméa")
    assert paris is not None and (paris.citycode, paris.city) == ("75111", "Paris")
    assert _distance_m(noumea.lat, noumea.lon, paris.lat, paris.lon) > 10_000_000


def test_other_communes_are_rejected(paris: AddokGeocoder, anywhere: AddokGeocoder) -> None:
    assert anywhere.geocode("Rue Faidherbe Nouméa") is not None  # the server does answer with Nouméa...
    result = paris.geocode("Rue Faidherbe Nouméa")  # ...which the town of Paris never takes
    assert result is None or result.citycode == "75111"
    assert paris.geocode("Rue de la Somme Nouméa") is None
    assert paris.geocode("Rue Faidherbe", citycode="98818") is None
    assert paris.reverse(-22.279605, 166.451589) is None  # a point in Nouméa
    noumea = AddokGeocoder(paris.base_url, citycodes=("98818",))
    found = noumea.geocode("Rue Faidherbe 75011 Paris")  # a one-commune town also filters on the server
    assert found is not None and found.citycode == "98818"


def test_plm_communes_stand_for_their_arrondissements() -> None:
    assert {"75056", "75101", "75120"} <= expand_citycodes(["75056"])
    assert "75121" not in expand_citycodes(["75056"])
    assert expand_citycodes(["13055"]) >= {"13201", "13216"}
    assert expand_citycodes(["54084"]) == {"54084"}


@pytest.mark.parametrize(
    "query, street",
    [
        ("40 rue faidherb 75011", "Rue Faidherbe"),
        ("boulevard voltair paris", "Boulevard Voltaire"),
        ("rue de charone", "Rue de Charonne"),
        ("56 rue amlot", "Rue Amelot"),
        ("bd richard lenoir", "Boulevard Richard-Lenoir"),
    ],
)
def test_typos_are_still_found(paris: AddokGeocoder, query: str, street: str) -> None:
    result = paris.geocode(query)
    assert result is not None, query
    assert result.street == street


def test_nothing_found_is_none(paris: AddokGeocoder) -> None:
    assert paris.geocode("xqzw kjvq plmh") is None
    assert paris.geocode(AddressQuery(city="Paris")) is None  # no street: nothing to look for
    assert paris.geocode("  ,; ") is None


def test_reverse_gives_the_nearest_address(paris: AddokGeocoder) -> None:
    row = CSV_BY_ID["75111_ruefaidher_00040"]
    result = paris.reverse(float(row["lat"]) + 0.00002, float(row["lon"]))
    assert result is not None
    assert (result.type, result.label, result.housenumber) == ("housenumber", "40 Rue Faidherbe 75011 Paris", "40")
    assert _distance_m(result.lat, result.lon, float(row["lat"]), float(row["lon"])) < 5
    assert isinstance(result.details.get("distance"), int)
    with pytest.raises(ValueError):
        paris.reverse(91.0, 2.0)


def test_intersection_is_the_midpoint_of_both_streets(paris: AddokGeocoder) -> None:
    query = AddressQuery(voie="Rue Faidherbe", second_voie="Rue de Charonne", code_postal="75011", numero="3")
    result = paris.geocode(query)
    first = paris.geocode(AddressQuery(voie="Rue Faidherbe", code_postal="75011"))
    second = paris.geocode(AddressQuery(voie="Rue de Charonne", code_postal="75011"))
    assert result is not None and first is not None and second is not None
    assert result.type == "intersection"
    assert result.lat == pytest.approx((first.lat + second.lat) / 2)
    assert result.lon == pytest.approx((first.lon + second.lon) / 2)
    assert result.score == min(first.score, second.score)
    assert result.label == "Rue Faidherbe / Rue de Charonne 75011 Paris"
    assert result.housenumber is None
    assert result.estimated and result.uncertainty_m is None  # of unknown precision: an agent checks it
    # The real corner, between 44 Rue Faidherbe and 88 Rue de Charonne: a midpoint of two streets is rough.
    a, b = CSV_BY_ID["75111_ruefaidher_00044"], CSV_BY_ID["75111_ruedecharo_00088"]
    corner = ((float(a["lat"]) + float(b["lat"])) / 2, (float(a["lon"]) + float(b["lon"])) / 2)
    assert _distance_m(result.lat, result.lon, *corner) < 300
    # A street that does not exist gets addok's closest guess, and the intersection that guess's low score.
    unknown = paris.geocode(AddressQuery(voie="Rue Faidherbe", second_voie="Rue Imaginaire Zzyzx"))
    assert unknown is None or unknown.score < 0.5


def test_server_down_is_unavailable() -> None:
    geocoder = AddokGeocoder(f"http://127.0.0.1:{_free_port()}", timeout=2)
    with pytest.raises(GeocoderUnavailable) as caught:
        geocoder.geocode("40 rue Faidherbe")
    assert "indisponible" in str(caught.value) and "unavailable" in str(caught.value)
    with pytest.raises(GeocoderUnavailable):
        geocoder.reverse(48.85, 2.38)
    assert geocoder.geocode("a") is None  # too short to ask anyone: no request, no error


def test_hanging_server_times_out() -> None:
    with socket.socket() as listener:  # accepts connections in the backlog, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        geocoder = AddokGeocoder(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3)
        with pytest.raises(GeocoderUnavailable, match="timeout|timed out"):
            geocoder.geocode("40 rue Faidherbe")


@pytest.mark.parametrize(
    "status, body, why",
    [
        (200, b"<html>Bad gateway</html>", "invalid JSON"),
        (200, b'{"type": "FeatureCollection", "features": [', "invalid JSON"),
        (200, b"\xff\xfe\x00garbage", "invalid JSON"),
        (200, b'{"type": "FeatureCollection"}', "FeatureCollection"),
        (200, b"[1, 2, 3]", "FeatureCollection"),
        (500, b'{"code": 500, "message": "Internal Server Error"}', "HTTP 500"),
        (429, b'{"code": 429, "message": "Too Many Requests"}', "HTTP 429"),
        (400, b'{"code": 400, "message": "q must contain between 3 and 200 chars"}', "HTTP 400"),
    ],
)
def test_bad_answers_are_unavailable(stub: Callable[[int, bytes], str], status: int, body: bytes, why: str) -> None:
    geocoder = AddokGeocoder(stub(status, body))
    with pytest.raises(GeocoderUnavailable, match=why):
        geocoder.geocode("40 rue Faidherbe")
    with pytest.raises(GeocoderUnavailable, match=why):
        geocoder.reverse(48.85, 2.38)


# One answer of the national API, in the shape its documentation shows (its `street` key, scalar citycode).
NATIONAL_API_ANSWER = {
    "type": "FeatureCollection",
    "version": "draft",
    "query": "8 bd du port",
    "limit": 5,
    "attribution": "BAN",
    "licence": "ETALAB-2.0",
    "features": [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [2.290084, 49.897443]},
            "properties": {
                "label": "8 Boulevard du Port 80000 Amiens",
                "score": 0.49159121588068583,
                "housenumber": "8",
                "id": "80021_6590_00008",
                "name": "8 Boulevard du Port",
                "postcode": "80000",
                "citycode": "80021",
                "x": 648952.58,
                "y": 6977867.25,
                "city": "Amiens",
                "context": "80, Somme, Hauts-de-France",
                "type": "housenumber",
                "importance": 0.6706612694243868,
                "street": "Boulevard du Port",
            },
        },
        {"type": "Feature", "geometry": {"type": "Point"}, "properties": {"label": "broken"}},
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [4.829, 45.772]},
            "properties": {
                "label": "Boulevard du Port 69001 Lyon",
                "score": 0.4,
                "type": "street",
                "name": "Boulevard du Port",
                "postcode": "69001",
                "citycode": "69381",
                "city": "Lyon",
            },
        },
    ],
}


def test_national_api_answers_are_read(stub: Callable[[int, bytes], str]) -> None:
    base = stub(200, json.dumps(NATIONAL_API_ANSWER).encode())
    result = AddokGeocoder(base).geocode("8 bd du port")
    assert result is not None
    assert (result.label, result.type, result.housenumber, result.street) == (
        "8 Boulevard du Port 80000 Amiens",
        "housenumber",
        "8",
        "Boulevard du Port",
    )
    assert (result.postcode, result.citycode, result.city) == ("80000", "80021", "Amiens")
    assert (result.lon, result.lat) == (2.290084, 49.897443)
    assert result.details["context"] == "80, Somme, Hauts-de-France"
    # Lyon's town takes its arrondissement's address, skipping Amiens and the malformed feature.
    lyon = AddokGeocoder(base, citycodes=("69123",)).geocode("8 bd du port")
    assert lyon is not None and (lyon.citycode, lyon.street, lyon.number_found) == ("69381", "Boulevard du Port", False)
    assert AddokGeocoder(base, citycodes=("75056",)).geocode("8 bd du port") is None
    assert parse_feature({"geometry": {"coordinates": ["x", 1]}, "properties": {"label": "x"}}) is None
