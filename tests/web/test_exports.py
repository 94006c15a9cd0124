"""Exports /exports/signalements.csv and .geojson: the queue's filters, agents' scope, personal data for administrators
only, French Excel's CSV (BOM, `;`, local dates, no formula injection), streamed, dated file name, audited."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from datetime import date
from html import unescape
from typing import Any

import pytest
from sqlalchemy import select

from intake.config import Config
from intake.models import AuditLog
from tests.support.web import secured, signed_in
from tests.web.test_map import AUTHOR, HOSTILE_ADDRESS, SECRET_TEXT, SUBJECT, Town, build_town
from web.access import ROUTES

PERSONAL = (*AUTHOR.values(), SECRET_TEXT, "nid de poule", "Agent Accueil", "accueil@mairie.example")


@pytest.fixture
def town(make_config: Callable[..., Config]) -> Town:
    return build_town(make_config())


def read_csv(client: Any, query: str = "") -> tuple[list[str], list[dict[str, str]], Any]:
    answer = client.get("/exports/signalements.csv" + query)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    raw = answer.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    text = raw.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    header = rows[0]
    assert all(len(r) == len(header) for r in rows)
    return header, [dict(zip(header, r, strict=True)) for r in rows[1:]], answer


def read_geojson(client: Any, query: str = "") -> dict[str, Any]:
    answer = client.get("/exports/signalements.geojson" + query)
    assert answer.status_code == 200
    assert answer.mimetype == "application/geo+json"
    doc = json.loads(answer.get_data(as_text=True))
    assert doc["type"] == "FeatureCollection"
    return doc


def test_csv_for_reception_has_no_personal_data(town: Town) -> None:
    header, rows, answer = read_csv(signed_in(town.app, "accueil"), "?doublons=inclus")
    body = answer.get_data().decode("utf-8-sig")
    for secret in PERSONAL:
        assert secret not in body
    assert not {"Nom du citoyen", "Courriel du citoyen", "Téléphone du citoyen", "Description", "Objet"} & set(header)
    assert [r["Numéro"] for r in rows] == [f"2026-{i:05d}" for i in range(6, 0, -1)]
    first = rows[-1]
    assert first["Reçu le"] == "16/01/2026 00:30"  # 23:30 UTC is past midnight in Paris
    assert first["Catégorie"] == "Voirie et espace public" and first["Statut"] == "Nouveau"
    assert first["Latitude"] == "48,860600" and first["Code postal"] == "75001"
    assert first["Lien"] == "http://localhost:8000/signalements/2026-00001"
    assert rows[0]["Motif de rejet"] == "problème situé sur le domaine privé"
    assert next(r for r in rows if r["Numéro"] == "2026-00004")["Doublon de"] == "2026-00001"
    assert next(r for r in rows if r["Numéro"] == "2026-00005")["Latitude"] == ""


def test_formula_injection_is_neutralised(town: Town) -> None:
    _, rows, _ = read_csv(signed_in(town.app, "admin"), "?categorie=voirie")
    first = next(r for r in rows if r["Numéro"] == "2026-00001")
    assert first["Adresse du problème"] == "'" + HOSTILE_ADDRESS
    assert first["Objet"] == "'" + SUBJECT
    assert first["Téléphone du citoyen"] == "'" + AUTHOR["phone"]  # "+33…" would be a formula too
    assert all(not cell.startswith(("=", "+", "-", "@")) for r in rows for cell in r.values())


def test_administrators_get_the_personal_data(town: Town) -> None:
    header, rows, _ = read_csv(signed_in(town.app, "admin"))
    assert {"Nom du citoyen", "Courriel du citoyen", "Téléphone du citoyen", "Description", "Objet"} <= set(header)
    first = next(r for r in rows if r["Numéro"] == "2026-00001")
    assert first["Nom du citoyen"] == AUTHOR["name"] and first["Courriel du citoyen"] == AUTHOR["email"]
    assert first["Description"] == SECRET_TEXT and first["Transmis par"] == "Agent Accueil"
    doc = read_geojson(signed_in(town.app, "admin"), "?q=rivoli")
    props = doc["features"][0]["properties"]
    assert props["auteur_courriel"] == AUTHOR["email"] and props["description"] == SECRET_TEXT
    assert props["adresse"] == HOSTILE_ADDRESS  # GeoJSON is data, not a spreadsheet: kept as written


def test_geojson_for_an_agent_is_scoped_and_without_personal_data(town: Town) -> None:
    client = signed_in(town.app, "agent", "voirie")
    doc = read_geojson(client, "?doublons=inclus")
    body = json.dumps(doc, ensure_ascii=False)
    for secret in PERSONAL:
        assert secret not in body
    numbers = [f["properties"]["numero"] for f in doc["features"]]
    assert numbers == ["2026-00005", "2026-00004", "2026-00003", "2026-00001"]  # voirie only
    by_number = {f["properties"]["numero"]: f for f in doc["features"]}
    assert by_number["2026-00005"]["geometry"] is None
    assert by_number["2026-00001"]["geometry"] == {"type": "Point", "coordinates": [2.3376, 48.8606]}
    assert by_number["2026-00001"]["properties"]["recu_le"] == "2026-01-16T00:30:00+01:00"
    _, rows, _ = read_csv(client, "?service=eclairage")
    assert rows == []  # another service's reports are never exported to an agent


def test_filters_apply_and_bad_filters_are_refused_in_french(town: Town) -> None:
    client = signed_in(town.app, "accueil")
    _, rows, _ = read_csv(client, "?statut=en_cours&statut=rejete")
    assert [r["Numéro"] for r in rows] == ["2026-00006", "2026-00002"]
    _, rows, _ = read_csv(client, "?ouverts=1&du=2026-01-01&au=2026-02-28")
    assert [r["Numéro"] for r in rows] == ["2026-00002", "2026-00001"]
    bad = client.get("/exports/signalements.csv?du=2026-13-45")
    assert bad.status_code == 400 and "date de début illisible" in unescape(bad.get_data(as_text=True))


def test_download_is_streamed_named_with_the_date_and_audited(town: Town) -> None:
    client = signed_in(town.app, "agent", "voirie")
    answer = client.get("/exports/signalements.csv?categorie=voirie")
    assert answer.is_streamed
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = answer.headers["Content-Disposition"]
    found = re.fullmatch(r'attachment; filename="signalements-(\d{4}-\d{2}-\d{2})\.csv"', disposition)
    assert found and abs((date.fromisoformat(found.group(1)) - date.today()).days) <= 1
    assert answer.headers["Cache-Control"] == "private, no-store"
    answer.close()
    geo = client.get("/exports/signalements.geojson")
    assert geo.headers["Content-Disposition"].endswith('.geojson"')
    geo.close()
    with town.res.factory() as s:
        logged = s.execute(
            select(AuditLog.action, AuditLog.path, AuditLog.status)
            .where(AuditLog.action.like("exports.%"))
            .order_by(AuditLog.id)
        ).all()
    assert [(a, p, st) for a, p, st in logged] == [
        ("exports.csv", "/exports/signalements.csv?categorie=voirie", 200),
        ("exports.geojson", "/exports/signalements.geojson", 200),
    ]


def test_only_signed_in_staff_may_export(town: Town) -> None:
    assert ROUTES["exports.csv"] == ROUTES["exports.geojson"] == frozenset({"accueil", "agent", "admin"})
    anonymous = secured(town.app).test_client()
    for path in ("/exports/signalements.csv", "/exports/signalements.geojson"):
        answer = anonymous.get(path)
        assert answer.status_code == 302 and "/connexion" in answer.headers["Location"]
        assert b"2026-00001" not in answer.get_data()


def test_map_and_export_links_agree(town: Town) -> None:
    client = signed_in(town.app, "admin")
    page = unescape(client.get("/carte?statut=resolu&filtre=1").get_data(as_text=True))
    csv_link = re.search(r'href="(/exports/signalements\.csv[^"]*)"', page)
    assert csv_link is not None
    _, rows, _ = read_csv(client, csv_link.group(1).removeprefix("/exports/signalements.csv"))
    data = client.get("/carte/signalements.geojson?statut=resolu&filtre=1").get_json(force=True)
    assert [r["Numéro"] for r in rows] == [f["properties"]["numero"] for f in data["features"]] == ["2026-00003"]


def test_queue_links_to_the_exports_of_its_selection(town: Town) -> None:
    page = signed_in(town.app, "accueil").get("/?categorie=eclairage").get_data(as_text=True)
    assert 'href="/exports/signalements.csv?categorie=eclairage"' in page
    assert 'href="/exports/signalements.geojson?categorie=eclairage"' in page
    assert 'href="/carte?filtre=1&amp;categorie=eclairage"' in page
    assert "sans données personnelles" in page
