"""The reports map /carte and its data: filters like the queue, agents' scope, the cap, no personal data, no
inline script, vendored Leaflet and markercluster, tiles only when configured."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from intake.config import Config
from intake.models import Contact, Report
from intake.outbox.notify import ConsoleMailer
from intake.runtime.resources import Resources, build_resources
from tests.support.web import signed_in
from web import create_app
from web.access import ROUTES
from web.map import HOTSPOTS, PALETTE, UNCLASSIFIED, legend

ROOT = Path(__file__).resolve().parents[2]
AUTHOR = {"name": "Jeanne Martin-Duval", "email": "jeanne.martin-duval@example.org", "phone": "+33612345678"}
SECRET_TEXT = "Le trou est juste devant chez moi au 3e étage, code 4521B"
SUBJECT = "@SUM(1+1) nid de poule"
HOSTILE_ADDRESS = '=HYPERLINK("http://pirate.example";"clic") rue de Rivoli'


@dataclass(frozen=True)
class Town:
    """The app and its reports, by name."""

    app: Flask
    res: Resources
    numbers: dict[str, str]


def add_report(res: Resources, number: str, *, author_id: int | None = None, **values: Any) -> int:
    """Insert one report row as the pipeline leaves it; returns its id."""
    fields: dict[str, Any] = {
        "channel": "email",
        "subject": "Signalement",
        "description": "",
        "category": "voirie",
        "service": "voirie",
        "status": "nouveau",
        "lat": 48.8566,
        "lon": 2.3522,
        "location_source": "text",
        "created_at": datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
    }
    fields.update(values)
    with res.factory() as s, s.begin():
        report = Report(tracking_number=number, public_token=secrets.token_urlsafe(24), author_id=author_id, **fields)
        s.add(report)
        s.flush()
        return report.id


def build_town(cfg: Config) -> Town:
    """Six reports: open voirie with a citizen, open éclairage, resolved voirie, a duplicate, one without position,
    one rejected propreté."""
    res = build_resources(cfg, mailer=ConsoleMailer())
    with res.factory() as s, s.begin():
        contact = Contact(**AUTHOR)
        s.add(contact)
        s.flush()
        author = contact.id
    main = add_report(
        res,
        "2026-00001",
        author_id=author,
        subject=SUBJECT,
        description=SECRET_TEXT,
        address_label=HOSTILE_ADDRESS,
        address_postcode="75001",
        lat=48.8606,
        lon=2.3376,
        forwarded_by_name="Agent Accueil",
        forwarded_by_email="accueil@mairie.example",
        created_at=datetime(2026, 1, 15, 23, 30, tzinfo=UTC),
    )
    add_report(
        res,
        "2026-00002",
        category="eclairage",
        service="eclairage",
        status="en_cours",
        lat=48.8530,
        lon=2.3690,
        created_at=datetime(2026, 2, 1, 8, 0, tzinfo=UTC),
    )
    add_report(res, "2026-00003", status="resolu", lat=48.8700, lon=2.3000)
    add_report(res, "2026-00004", duplicate_of_id=main, author_id=author, lat=48.8607, lon=2.3377)
    add_report(res, "2026-00005", lat=None, lon=None, location_source="none")
    add_report(
        res,
        "2026-00006",
        category="proprete",
        service="proprete",
        status="rejete",
        status_reason="domaine_prive",
        lat=48.8400,
        lon=2.3100,
    )
    numbers = {
        "voirie": "2026-00001",
        "eclairage": "2026-00002",
        "resolu": "2026-00003",
        "doublon": "2026-00004",
        "sans_position": "2026-00005",
        "rejete": "2026-00006",
    }
    return Town(create_app(cfg, resources=res), res, numbers)


@pytest.fixture
def town(make_config: Callable[..., Config]) -> Town:
    return build_town(make_config())


def geojson(client: Any, query: str = "") -> dict[str, Any]:
    answer = client.get("/carte/signalements.geojson" + query)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert answer.mimetype == "application/geo+json"
    data = json.loads(answer.get_data(as_text=True))
    assert data["type"] == "FeatureCollection"
    for feature in data["features"]:
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        assert -180 <= lon <= 180 and -90 <= lat <= 90
    return data


def numbers_of(data: dict[str, Any]) -> list[str]:
    return [f["properties"]["numero"] for f in data["features"]]


def test_default_map_shows_open_reports_without_duplicates_and_counts_those_without_position(town: Town) -> None:
    client = signed_in(town.app, "admin")
    data = geojson(client)
    assert numbers_of(data) == ["2026-00002", "2026-00001"]  # newest first; resolved, rejected, duplicate left out
    assert data["total"] == 3 and data["sans_position"] == 1 and data["affiches"] == 2
    assert data["tronque"] is False and data["erreurs"] == []
    props = {f["properties"]["numero"]: f["properties"] for f in data["features"]}
    assert props["2026-00001"] == {
        "numero": "2026-00001",
        "categorie": "voirie",
        "categorie_libelle": "Voirie et espace public",
        "statut": "Nouveau",
        "date": "16/01/2026",
        "url": "/signalements/2026-00001",
    }  # Paris time: the 16th
    assert props["2026-00002"]["statut"] == "En cours"
    assert data["features"][1]["geometry"]["coordinates"] == [2.3376, 48.8606]


def test_map_data_holds_no_personal_data_even_for_administrators(town: Town) -> None:
    body = (
        signed_in(town.app, "admin").get("/carte/signalements.geojson?filtre=1&doublons=inclus").get_data(as_text=True)
    )
    assert "2026-00004" in body  # the duplicate, by the same citizen, is there
    for secret in (*AUTHOR.values(), SECRET_TEXT, SUBJECT, "Agent Accueil", "accueil@mairie.example", "Rivoli"):
        assert secret not in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?categorie=eclairage", ["2026-00002"]),
        ("?statut=resolu", ["2026-00003"]),
        ("?statut=rejete&statut=resolu", ["2026-00006", "2026-00003"]),
        ("?filtre=1", ["2026-00006", "2026-00003", "2026-00002", "2026-00001"]),  # "open only" unticked: all
        ("?filtre=1&doublons=seuls", ["2026-00004"]),
        ("?ouverts=1&doublons=inclus", ["2026-00004", "2026-00002", "2026-00001"]),
        ("?service=eclairage&service=voirie&ouverts=1", ["2026-00002", "2026-00001"]),
        ("?filtre=1&du=2026-01-16&au=2026-01-16", ["2026-00001"]),  # 23:30 UTC on the 15th is the 16th in Paris
        ("?filtre=1&q=rivoli", ["2026-00001"]),
    ],
)
def test_map_data_follows_the_queue_filters(town: Town, query: str, expected: list[str]) -> None:
    assert numbers_of(geojson(signed_in(town.app, "accueil"), query)) == expected


def test_agents_only_see_their_service(town: Town) -> None:
    voirie = signed_in(town.app, "agent", "voirie")
    assert numbers_of(geojson(voirie, "?filtre=1&doublons=inclus")) == ["2026-00004", "2026-00003", "2026-00001"]
    assert numbers_of(geojson(voirie, "?service=eclairage")) == []  # asking for another service gives nothing
    assert geojson(voirie)["total"] == 2  # 00001 and 00005 (no position)
    eclairage = signed_in(town.app, "agent", "eclairage")
    assert numbers_of(geojson(eclairage, "?filtre=1")) == ["2026-00002"]
    page = unescape(voirie.get("/carte").get_data(as_text=True))
    assert 'id="f-service"' not in page  # no service choice for an agent


def test_markers_are_capped_and_the_page_says_so(town: Town) -> None:
    town.app.config["GUICHET_MAP_MAX_MARKERS"] = 2
    client = signed_in(town.app, "admin")
    data = geojson(client, "?filtre=1")
    assert numbers_of(data) == ["2026-00006", "2026-00003"]  # the most recent ones
    assert data["tronque"] is True and data["dans_la_zone"] == 4 and data["plafond"] == 2
    page = unescape(client.get("/carte").get_data(as_text=True))
    assert 'id="carte-plafond"' in page and "plus récents sont sur la carte" in page
    assert "Afficher les signalements de la zone visible" in page


def test_bbox_limits_the_markers_and_a_bad_one_is_refused_in_french(town: Town) -> None:
    client = signed_in(town.app, "admin")
    data = geojson(client, "?filtre=1&bbox=2.33,48.855,2.34,48.865")
    assert numbers_of(data) == ["2026-00001"] and data["dans_la_zone"] == 1 and data["total"] == 5
    for bad in ("1,2,3", "a,b,c,d", "3,48,2,49", "2,95,3,96", "nan,48,2,49"):
        answer = client.get(f"/carte/signalements.geojson?bbox={bad}")
        assert answer.status_code == 400
        assert "bbox" in answer.get_json()["erreur"]


def test_unknown_filters_are_reported_in_french(town: Town) -> None:
    client = signed_in(town.app, "admin")
    page = unescape(client.get("/carte?categorie=inconnue&du=hier").get_data(as_text=True))
    assert "catégorie inconnu(e) : inconnue" in page and "date de début illisible" in page
    data = geojson(client, "?categorie=inconnue")
    assert data["erreurs"] == ["catégorie inconnu(e) : inconnue"]


def test_page_uses_vendored_scripts_and_no_inline_script_or_style(town: Town) -> None:
    client = signed_in(town.app, "admin")
    answer = client.get("/carte?categorie=voirie")
    assert answer.status_code == 200
    page = answer.get_data(as_text=True)
    csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page, flags=re.S)
    sources = [re.search(r'src="([^"]+)"', attrs).group(1) for attrs, _ in scripts]  # type: ignore[union-attr]
    assert all(body.strip() == "" for _, body in scripts)
    assert sources == [
        "/static/vendor/leaflet/leaflet.js",
        "/static/js/tiles.js",
        "/static/vendor/leaflet.markercluster/leaflet.markercluster.js",
        "/static/js/reports-map.js",
    ]
    for source in sources:
        with client.get(source) as served:
            assert served.status_code == 200 and len(served.get_data()) > 1000
    assert not re.search(r"\sstyle=", page) and "<style" not in page and not re.search(r"\son[a-z]+=", page)
    for path in ("vendor/leaflet.markercluster/LICENSE", "vendor/leaflet.markercluster/MarkerCluster.css"):
        assert (ROOT / "web" / "static" / path).is_file()
    # the data and exports carry the page's filters; the map opens on the open reports
    assert 'data-src="/carte/signalements.geojson?filtre=1&amp;categorie=voirie"' in page
    assert 'href="/exports/signalements.csv?categorie=voirie"' in page
    assert 'href="/exports/signalements.geojson?categorie=voirie"' in page
    assert 'data-outline="/carte/commune.geojson"' in page
    default = client.get("/carte").get_data(as_text=True)
    assert 'name="ouverts" value="1" checked' in default and "ouverts=1" in default


def test_legend_lists_every_category_with_an_accessible_colour(town: Town) -> None:
    cfg = town.app.config["GUICHET"]
    entries = legend(cfg)
    assert [e["code"] for e in entries] == [c.code for c in cfg.categories] + [""]
    fills = [e["fill"] for e in entries[:-1]]
    assert len(set(fills)) == min(len(PALETTE), len(cfg.categories))  # one colour per category (11 in the demo)
    assert entries[-1]["fill"] == UNCLASSIFIED[0] and UNCLASSIFIED[0] not in fills

    def luminance(colour: str) -> float:
        channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    for fill, text in (*PALETTE, UNCLASSIFIED):
        light, dark = sorted((luminance(fill), luminance(text)), reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, (fill, text)
    raw = signed_in(town.app, "accueil").get("/carte").get_data(as_text=True)
    for category in cfg.categories:
        assert category.label in unescape(raw)
    attribute = re.search(r'data-categories="([^"]*)"', raw)
    assert attribute is not None
    assert json.loads(unescape(attribute.group(1))) == entries  # what the script colours the markers with


def test_tiles_only_when_configured(make_config: Callable[..., Config]) -> None:
    apps: list[Flask] = []  # referenced until dispose_all() below closes their pooled connections

    def app(cfg: Config) -> Flask:
        apps.append(create_app(cfg, resources=build_resources(cfg, mailer=ConsoleMailer())))
        return apps[-1]

    shipped = signed_in(app(make_config()), "admin").get("/carte")  # the default base layer: IGN's Plan IGN
    assert 'data-tiles="https://data.geopf.fr/wmts?' in shipped.get_data(as_text=True)
    assert "img-src 'self' data: https://data.geopf.fr;" in shipped.headers["Content-Security-Policy"]
    assert "© IGN – Plan IGN" in unescape(shipped.get_data(as_text=True))
    page = signed_in(app(make_config(web={"tiles_url": None})), "admin").get("/carte").get_data(as_text=True)
    assert 'data-tiles=""' in page and "rm-carte--simple" in page
    assert "/static/js/tiles.js" in page  # says so on the map when the tile server does not answer
    tiled = app(
        make_config(
            web={
                "tiles_url": "https://{s}.tiles.example.org/{z}/{x}/{y}.png",
                "tiles_attribution": "© contributeurs OpenStreetMap",
            }
        )
    )
    answer = signed_in(tiled, "admin").get("/carte")
    page = unescape(answer.get_data(as_text=True))
    assert 'data-tiles="https://{s}.tiles.example.org/{z}/{x}/{y}.png"' in page
    assert 'data-attribution="© contributeurs OpenStreetMap"' in page and "rm-carte--simple" not in page
    assert "img-src 'self' data: https://*.tiles.example.org" in answer.headers["Content-Security-Policy"]
    from intake.runtime.db import dispose_all

    dispose_all()  # before the apps (and their engines) go out of scope


def test_signed_out_users_get_nothing(town: Town) -> None:
    from tests.support.web import secured

    anonymous = secured(town.app).test_client()
    page = anonymous.get("/carte")
    assert page.status_code == 302 and "/connexion" in page.headers["Location"]
    data = anonymous.get("/carte/signalements.geojson")
    assert data.status_code == 401 and "2026-00001" not in data.get_data(as_text=True)
    assert ROUTES["map.page"] == ROUTES["map.data"] == frozenset({"accueil", "agent", "admin"})


def test_nav_links_to_the_map(town: Town) -> None:
    page = signed_in(town.app, "agent", "voirie").get("/").get_data(as_text=True)
    assert 'href="/carte"' in page


def test_hotspots_layer_only_when_the_statistics_offer_it(town: Town) -> None:
    has_endpoint = HOTSPOTS in town.app.view_functions
    client = signed_in(town.app, "admin")
    page = client.get("/carte?categorie=voirie").get_data(as_text=True)
    assert ('id="carte-points-chauds"' in page) == has_endpoint
    assert ('data-hotspots=""' in page) == (not has_endpoint)
    if has_endpoint:  # the layer's URL carries the map's filters and answers GeoJSON
        found = re.search(r'data-hotspots="([^"]+)"', page)
        assert found is not None and "categorie=voirie" in found.group(1)
        answer = client.get(unescape(found.group(1)))
        assert answer.status_code == 200 and answer.get_json(force=True)["type"] == "FeatureCollection"


def test_reports_table_has_rows_from_the_database(town: Town) -> None:
    """Sanity: the fixture's rows are what the map reads (guards against an empty database passing the tests)."""
    with town.res.factory() as s:
        assert s.execute(select(Report.tracking_number).order_by(Report.id)).scalars().all() == sorted(
            town.numbers.values()
        )
