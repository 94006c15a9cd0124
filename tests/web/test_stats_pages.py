"""The statistics and hotspots pages: French, accessible tables beside the charts, periods, errors, scopes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from intake.config import Config
from intake.models import utcnow
from intake.outbox.notify import ConsoleMailer
from intake.runtime.resources import build_resources
from tests.support.web import signed_in
from tests.test_hotspots import ROQUETTE, offset
from tests.test_stats import known_dataset, make_report, unreviewed_dataset
from web import create_app

JUNE = {"du": "2024-06-01", "au": "2024-06-15"}


@pytest.fixture
def app(make_config: Callable[..., Config]) -> Flask:
    cfg = make_config(classifier={"review_threshold": 0.9})  # the threshold in force, as the page must show it
    res = build_resources(cfg, mailer=ConsoleMailer())
    with res.factory() as session:
        known_dataset(session, cfg)
        hotspot(session, cfg, "objets_abandonnes", 6, "Rue de la Roquette")
        hotspot(session, cfg, "eclairage", 4, "Boulevard Voltaire", north_m=2000)
        session.commit()
    return create_app(cfg, resources=res)


def hotspot(session: Session, cfg: Config, category: str, n: int, voie: str, north_m: float = 0) -> None:
    for i in range(n):
        lat, lon = offset(ROQUETTE, north_m + 10 * i, 0)
        make_report(
            session,
            config=cfg,
            created=datetime(2024, 6, 14, 8, tzinfo=UTC) + timedelta(minutes=i),
            category=category,
            lat=lat,
            lon=lon,
            voie=voie,
            channel="open311",
            source="app",
        )


def page(client: object, path: str, **args: str) -> str:
    answer = client.get(path, query_string=args)  # type: ignore[attr-defined]
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return str(answer.get_data(as_text=True))


def row(html: str, header: str) -> list[str]:
    """The cells of the table row whose header cell is `header`."""
    found = re.search(r'<th scope="row">' + re.escape(header) + r"</th>(.*?)</tr>", html, re.S)
    assert found is not None, header
    return re.findall(r"<td[^>]*>(.*?)</td>", found.group(1), re.S)


def test_statistics_page_for_an_administrator(app: Flask) -> None:
    html = page(signed_in(app, "admin"), "/statistiques", **JUNE)
    assert '<html lang="fr">' in html and "<h1>Statistiques</h1>" in html
    assert "du 01/06/2024 au 15/06/2024 (15 jours)" in html
    # 7 reports of the known dataset + 10 at the two hotspots, 1 duplicate
    assert "<caption>Signalements par canal</caption>" in html
    assert row(html, "Courriel") == ["4", "1", "23,5\u00a0%"] and row(html, "Application") == ["11", "0", "64,7\u00a0%"]
    assert row(html, "Total")[:2] == ["17", "1"]
    # the accessible table is next to each chart, and drives it
    for name in ("canal", "statut", "categorie", "service", "evolution", "precision"):
        assert f'<canvas id="graphe-{name}" aria-hidden="true"></canvas>' in html
        assert f'data-canvas="graphe-{name}"' in html
    assert html.count("<caption>") >= 8 and '<th scope="col">' in html
    assert 'src="/static/vendor/chart.js/chart.umd.min.js"' in html and 'src="/static/js/stats.js"' in html
    assert ' style="' not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)  # nothing inline (CSP)
    # delays of the known dataset (the hotspot reports have no action yet)
    assert row(html, "Jusqu&#39;à la première action d&#39;un agent") == ["2 h", "7 h 36", "5", "11"]
    assert row(html, "Jusqu&#39;à la résolution") == ["29 h", "44 h 12", "2", "14"]
    assert row(html, "Catégorie du modèle changée") == ["1", "5", "20,0\u00a0%"]
    assert row(html, "Adresse placée ou corrigée par un agent") == ["1", "17", "5,9\u00a0%"]
    precision = html.split("<caption>Précision réelle du modèle par catégorie proposée</caption>")[1]
    assert row(precision, "Éclairage public") == ["1", "1", "0,0\u00a0%"]  # proposed once by the model, changed
    assert row(precision, "Voirie et espace public") == ["2", "0", "100,0\u00a0%"]
    assert 'href="/statistiques"' in html and 'href="/points-chauds"' in html  # navigation


def test_precision_without_review_on_the_page(app: Flask, make_config: Callable[..., Config]) -> None:
    client = signed_in(app, "admin")
    html = page(client, "/statistiques", **JUNE)  # the known dataset: nothing was transmitted without review
    assert "Précision des signalements transmis sans revue" in html
    assert "Aucun signalement transmis sans revue sur cette période avec ces filtres." in html
    assert "seuil de revue en vigueur : 90\u00a0%)." in html
    cfg = make_config(routing={"auto_transmit": True}, classifier={"review_threshold": 0.9})
    older = make_config(routing={"auto_transmit": True}, classifier={"review_threshold": 0.85})
    with app.extensions["guichet"].factory() as session:
        unreviewed_dataset(session, cfg, older)
    html = page(client, "/statistiques", **JUNE)
    assert "Aucun signalement transmis sans revue" not in html
    assert "seuils appliqués\n    lors de ces transmissions : 85\u00a0%, 90\u00a0%" in html
    table = html.split('<table class="st-table" id="table-sans-revue">')[1].split("</table>")[0]
    assert "<caption>Précision par catégorie des signalements transmis sans revue, du 01/06/2024 au 15/06/2024" in table
    assert row(table, "Voirie et espace public") == ["2", "0", "100,0\u00a0%"]
    assert row(table, "Éclairage public") == ["1", "1", "0,0\u00a0%"]
    assert row(table, "Toutes catégories") == ["5", "1", "80,0\u00a0%"]
    assert "Eau" not in table  # chosen in the app, not by the model


def test_default_period_and_presets(app: Flask) -> None:
    with app.extensions["guichet"].factory() as session:
        make_report(session, created=utcnow() - timedelta(hours=1), category="eau", service="voirie")
        session.commit()
    client = signed_in(app, "admin")
    today = app.config["GUICHET"].town.local(utcnow()).date()
    html = page(client, "/statistiques")
    assert f"du {(today - timedelta(days=29)):%d/%m/%Y} au {today:%d/%m/%Y} (30 jours)" in html
    assert row(html, "Total")[:1] == ["1"] and '<option value="30" selected>' in html
    week = page(client, "/statistiques", periode="7")
    assert "(7 jours)" in week and '<option value="7" selected>' in week


def test_bad_dates_and_choices_get_a_french_message(app: Flask) -> None:
    client = signed_in(app, "admin")
    html = page(client, "/statistiques", du="2024-13-45", periode="12")
    assert 'role="alert"' in html
    assert "date de début illisible (2024-13-45) : format AAAA-MM-JJ attendu" in html
    assert "période inconnue (12) : choisissez 7, 30, 90 ou 365 jours" in html
    swapped = page(client, "/statistiques", du="2024-06-15", au="2024-06-01")
    assert "la date de début est après la date de fin" in swapped and "du 01/06/2024 au 15/06/2024" in swapped
    long = page(client, "/statistiques", du="1990-01-01", au="2024-06-15")
    assert "période trop longue" in long
    hot = page(client, "/points-chauds", seuil="beaucoup", rayon="5", du="hier")
    assert "seuil illisible (beaucoup) : un nombre entier entre 2 et 10000 est attendu" in hot
    assert "rayon illisible (5) : un nombre entier entre 10 et 2000 est attendu" in hot
    assert "date de début illisible (hier)" in hot
    answer = client.get("/points-chauds.json", query_string={"du": "2024-02-30"})
    assert answer.status_code == 400 and "illisible" in answer.get_json()["erreur"]


def test_an_agent_sees_only_their_service(app: Flask) -> None:
    agent = signed_in(app, "agent", "eclairage")
    html = page(agent, "/statistiques", **JUNE)
    assert "service eclairage uniquement" in html
    assert row(html, "Total")[:2] == ["4", "0"]  # only the four lighting reports
    assert '<th scope="row">Propreté</th>' not in html and 'name="service"' not in html
    hot = page(agent, "/points-chauds", **JUNE)
    assert "4 pannes d&#39;éclairage en 15 jours autour du boulevard Voltaire" in hot
    assert "dépôts sauvages" not in hot.split("Seuils appliqués")[0]
    geo = agent.get("/points-chauds.json", query_string=JUNE).get_json()
    assert [f["properties"]["category"] for f in geo["features"]] == ["eclairage"]


def test_hotspots_page_and_geojson(app: Flask) -> None:
    client = signed_in(app, "accueil")
    html = page(client, "/points-chauds", **JUNE)
    assert "<h1>Points chauds</h1>" in html
    assert "<h2>6 dépôts sauvages en 15 jours autour de la rue de la Roquette</h2>" in html
    assert "<h2>4 pannes d&#39;éclairage en 15 jours autour du boulevard Voltaire</h2>" in html
    assert len(re.findall(r'<th scope="row"><a href="/signalements/2024-\d+">', html)) == 10
    assert "<caption>Seuils des points chauds sur 15 jours</caption>" in html
    assert 'id="carte-points-chauds"' in html and 'data-src="/points-chauds.json?' in html
    assert ' style="' not in html and not re.search(r"<script(?![^>]*\bsrc=)", html)
    fewer = page(client, "/points-chauds", seuil="7", **JUNE)
    assert "Aucun lieu n'atteint les seuils" in fewer and "<h2>" not in fewer

    answer = client.get("/points-chauds.json", query_string=JUNE)
    assert answer.status_code == 200 and answer.mimetype == "application/geo+json"
    body = json.loads(answer.get_data(as_text=True))
    assert body["type"] == "FeatureCollection" and len(body["features"]) == 2
    first = body["features"][0]
    assert first["geometry"]["type"] == "Point" and first["properties"]["radius_m"] >= 10
    assert first["properties"]["reports"][0]["url"].startswith("/signalements/2024-")


def test_sign_in_is_required(app: Flask) -> None:
    signed_in(app, "admin")  # installs the access checks
    anonymous = app.test_client()
    assert anonymous.get("/statistiques").status_code == 302
    assert anonymous.get("/points-chauds").status_code == 302
    assert anonymous.get("/points-chauds.json").status_code == 401
