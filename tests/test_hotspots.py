"""Hotspots: the grid clustering, thresholds and labels, on reports made here and on real DansMaRue positions."""

from __future__ import annotations

import csv
import math
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.orm import Session

from intake.backoffice.filters import parse_filter
from intake.backoffice.hotspots import around, cluster, describe, find_hotspots, geojson, threshold
from intake.backoffice.stats import Period
from intake.config import Config
from intake.geocoding.spatial import distance_m
from intake.models import Report
from tests.test_stats import make_report

ROQUETTE = (48.85530, 2.37350)  # place Léon-Blum end of the rue de la Roquette
MONTH = Period(date(2024, 5, 17), date(2024, 6, 15))  # 30 days
DMR = Path(__file__).parent / "data" / "dansmarue" / "dansmarue_paris_2024-07_nord-est.csv"
DMR_CATEGORIES = {
    "Graffitis, tags, affiches et autocollants": "graffitis",
    "Objets abandonnés": "objets_abandonnes",
    "Propreté": "proprete",
    "Autos, motos, vélos, trottinettes...": "vehicules",
    "Voirie et espace public": "voirie",
    "Mobiliers urbains": "mobilier_urbain",
    "Arbres, végétaux et animaux": "vegetaux",
    "Activités commerciales et professionnelles": "activites_commerciales",
    "Éclairage / Électricité": "eclairage",
    "Eau": "eau",
}


def offset(origin: tuple[float, float], north_m: float, east_m: float) -> tuple[float, float]:
    """The point `north_m` north and `east_m` east of `origin`."""
    lat, lon = origin
    return lat + north_m / 110_574.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat)))


def metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (the geocoder's), independent of the hotspots module's flat projection."""
    return distance_m(a[0], a[1], b[0], b[1])


def test_a_group_is_found_at_the_threshold_and_not_below() -> None:
    ring = [offset(ROQUETTE, 60 * math.cos(a), 60 * math.sin(a)) for a in range(6)]
    far = [offset(ROQUETTE, 400, 0), offset(ROQUETTE, 0, -400)]
    assert cluster(ring + far, radius_m=150, min_points=6) == [[0, 1, 2, 3, 4, 5]]
    assert cluster(ring + far, radius_m=150, min_points=7) == []
    assert cluster(ring, radius_m=50, min_points=6) == []  # 60 m from the centre: up to 120 m apart
    assert cluster([], radius_m=150, min_points=2) == []


def test_separate_places_make_separate_groups_densest_first() -> None:
    a = [offset(ROQUETTE, i * 10, 0) for i in range(5)]
    b = [offset(ROQUETTE, 2000, i * 10) for i in range(8)]
    groups = cluster(a + b, radius_m=100, min_points=5)
    assert groups == [list(range(5, 13)), list(range(5))]


def test_a_long_street_is_cut_into_discs_not_chained() -> None:
    street = [offset(ROQUETTE, 0, i * 40) for i in range(40)]  # 1.6 km of reports every 40 m
    groups = cluster(street, radius_m=100, min_points=4)
    assert len(groups) >= 6
    seen = [i for g in groups for i in g]
    assert len(seen) == len(set(seen))  # a report is in one hotspot at most
    for group in groups:
        assert max(metres(street[i], street[j]) for i in group for j in group) <= 200 + 1e-6


def test_real_dansmarue_positions_brute_force_check() -> None:
    """On real positions: each group fits in a disc around one of its reports, and what is left is below the
    threshold everywhere (checked by comparing every pair, the O(n²) way the module avoids)."""
    rows = [r for r in _dansmarue() if r["type"] == "Objets abandonnés"]
    points = [(float(r["lat"]), float(r["lon"])) for r in rows]
    radius, need = 150.0, 4
    groups = cluster(points, radius_m=radius, min_points=need)
    assert groups, "the July 2024 north-east extract has illegal dumping spots"
    taken = {i for g in groups for i in g}
    assert len(taken) == sum(len(g) for g in groups)
    for group in groups:
        assert len(group) >= need
        assert any(all(metres(points[s], points[j]) <= radius + 0.5 for j in group) for s in group)
    left = [i for i in range(len(points)) if i not in taken]
    for i in left:
        near = sum(1 for j in left if metres(points[i], points[j]) <= radius - 0.5)
        assert near < need, (rows[i]["id_dmr"], near)


def reference_cluster(points: list[tuple[float, float]], radius_m: float, need: int) -> list[list[int]]:
    """The same greedy rule written the obvious O(n²) way: the point with the most free neighbours (lowest
    index on a tie) takes them, while one still has enough."""
    free = set(range(len(points)))
    # distances as the module measures them (equirectangular around the mean latitude, within 0.3 % of the
    # great-circle distance over a city), so that only the search differs
    k = math.cos(math.radians(sum(p[0] for p in points) / len(points)))

    def flat(a: tuple[float, float], b: tuple[float, float]) -> float:
        return 111_195.08 * math.hypot(a[0] - b[0], (a[1] - b[1]) * k)

    near = [[j for j in range(len(points)) if flat(points[i], points[j]) <= radius_m] for i in range(len(points))]
    groups = []
    while True:
        best = max(free, key=lambda i: (sum(j in free for j in near[i]), -i), default=None)
        if best is None or sum(j in free for j in near[best]) < need:
            return groups
        members = sorted(j for j in near[best] if j in free)
        groups.append(members)
        free -= set(members)


@pytest.mark.parametrize(
    ("kind", "radius", "need"),
    [
        ("Objets abandonnés", 150, 4),
        ("Objets abandonnés", 100, 3),
        ("Graffitis, tags, affiches et autocollants", 100, 4),
        ("Propreté", 300, 3),
    ],
)
def test_same_groups_as_the_brute_force_rule(kind: str, radius: float, need: int) -> None:
    points = [(float(r["lat"]), float(r["lon"])) for r in _dansmarue() if r["type"] == kind]
    expected = reference_cluster(points, radius, need)
    assert expected  # the case is not empty
    assert cluster(points, radius_m=radius, min_points=need) == expected


def test_labels_in_french() -> None:
    assert around("Rue de la Roquette") == "de la rue de la Roquette"
    assert around("Boulevard Voltaire") == "du boulevard Voltaire"
    assert around("Avenue Parmentier") == "de l'avenue Parmentier"
    assert around("Impasse Questre") == "de l'impasse Questre"
    assert around("place Léon Blum") == "de la place Léon Blum"
    assert around("Quai de Valmy") == "du quai de Valmy"
    assert around("Hameau du Danube") == "du hameau du Danube"
    assert around("Allée Verte") == "de l'allée Verte"
    assert around("Montmartre") == "de Montmartre"
    assert describe(12, "dépôts sauvages", 30, "Place de la République", 120) == (
        "12 dépôts sauvages en 30 jours autour de la place de la République"
    )
    assert describe(3, "pannes", 1, None, 80) == "3 pannes en 1 jour dans un rayon de 80 m"


def test_thresholds_scale_with_the_period(cfg: Config) -> None:
    rule = cfg.hotspots.rule("objets_abandonnes")
    assert (rule.min_reports, rule.radius_m, rule.days, rule.noun) == (6, 150, 30, "dépôts sauvages")
    assert threshold(cfg, "objets_abandonnes", MONTH).min_reports == 6
    quarter = Period(date(2024, 3, 18), date(2024, 6, 15))
    assert threshold(cfg, "objets_abandonnes", quarter).min_reports == 18
    week = Period(date(2024, 6, 9), date(2024, 6, 15))
    assert threshold(cfg, "objets_abandonnes", week).min_reports == 3  # ceil(6 × 7 / 30) = 2, never below 3
    forced = threshold(cfg, "objets_abandonnes", week, min_reports=2, radius_m=40)
    assert (forced.min_reports, forced.radius_m) == (2, 40)
    assert threshold(cfg, "autre", MONTH).noun == "signalements « Autre demande »"


def _spot(
    s: Session,
    cfg: Config,
    n: int,
    *,
    category: str = "objets_abandonnes",
    origin: tuple[float, float] = ROQUETTE,
    day: int = 1,
    voie: str = "Rue de la Roquette",
    **more: Any,
) -> list[Report]:
    out = []
    for i in range(n):
        lat, lon = offset(origin, 15 * (i % 5), 12 * (i // 5))
        out.append(
            make_report(
                s,
                config=cfg,
                created=datetime(2024, 6, day, 9, tzinfo=UTC) + timedelta(hours=i),
                category=category,
                lat=lat,
                lon=lon,
                voie=voie,
                **more,
            )
        )
    return out


def test_found_at_the_threshold_with_its_reports_and_label(session: Session, cfg: Config) -> None:
    spot = _spot(session, cfg, 5)
    _spot(session, cfg, 1, voie="Rue Saint-Sabin")
    _spot(session, cfg, 1, status="rejete")  # rejected: never counted
    _spot(session, cfg, 3, origin=offset(ROQUETTE, 0, 900))  # 900 m away: another place
    make_report(
        session,
        config=cfg,
        created=datetime(2024, 4, 1, tzinfo=UTC),
        category="objets_abandonnes",
        lat=ROQUETTE[0],
        lon=ROQUETTE[1],
        voie="Rue de la Roquette",
    )  # before the period
    for _ in range(2):  # the same dump reported again: linked as duplicates, counted apart
        make_report(
            session,
            config=cfg,
            created=datetime(2024, 6, 3, tzinfo=UTC),
            category="objets_abandonnes",
            lat=ROQUETTE[0],
            lon=ROQUETTE[1],
            duplicate_of=spot[0],
        )
    session.commit()

    result = find_hotspots(session, cfg, parse_filter({}, cfg), MONTH)
    [hot] = result.hotspots
    assert hot.count == 6 and hot.duplicates == 2 and hot.open_count == 6
    assert hot.label == "6 dépôts sauvages en 30 jours autour de la rue de la Roquette"
    assert hot.street == "Rue de la Roquette" and hot.category == "objets_abandonnes"
    assert metres((hot.lat, hot.lon), ROQUETTE) < 60 and 10 <= hot.radius_m <= 150
    assert [m.number for m in hot.reports][:1] == [max((m.created_at, m.number) for m in hot.reports)[1]]
    assert {m.number for m in hot.reports} >= {r.tracking_number for r in spot}

    higher = find_hotspots(session, cfg, parse_filter({}, cfg), MONTH, min_reports=7)
    assert higher.hotspots == []
    wider = find_hotspots(session, cfg, parse_filter({"statut": "nouveau,rejete"}, cfg), MONTH)
    assert [h.count for h in wider.hotspots] == [7]  # asked for: rejected ones count
    narrow = find_hotspots(session, cfg, parse_filter({}, cfg), MONTH, radius_m=10)
    assert narrow.hotspots == []


def test_one_short_of_the_threshold_is_no_hotspot(session: Session, cfg: Config) -> None:
    _spot(session, cfg, 5)
    session.commit()
    assert find_hotspots(session, cfg, parse_filter({}, cfg), MONTH).hotspots == []
    week = Period(date(2024, 6, 1), date(2024, 6, 7))  # 7 days: the threshold scales to 3
    assert [h.label for h in find_hotspots(session, cfg, parse_filter({}, cfg), week).hotspots] == [
        "5 dépôts sauvages en 7 jours autour de la rue de la Roquette"
    ]


def test_categories_excluded_filtered_and_scoped(session: Session, cfg: Config) -> None:
    _spot(session, cfg, 10, category="autre")  # excluded by configuration
    _spot(session, cfg, 8, category="proprete", origin=offset(ROQUETTE, 3000, 0), voie="Boulevard Voltaire")
    _spot(session, cfg, 4, category="eclairage", origin=offset(ROQUETTE, -3000, 0), voie="Avenue Ledru-Rollin")
    session.commit()
    everything = find_hotspots(session, cfg, parse_filter({}, cfg), MONTH)
    # both exactly at their threshold (8 and 4): the larger first
    assert [(h.category, h.count) for h in everything.hotspots] == [("proprete", 8), ("eclairage", 4)]
    assert "autre" not in {t.category for t in everything.thresholds}
    asked = find_hotspots(session, cfg, parse_filter({"categorie": "autre"}, cfg), MONTH)
    assert [(h.category, h.count) for h in asked.hotspots] == [("autre", 10)]
    scoped = find_hotspots(session, cfg, parse_filter({}, cfg), MONTH, service_scope="eclairage")
    assert [h.label for h in scoped.hotspots] == ["4 pannes d'éclairage en 30 jours autour de l'avenue Ledru-Rollin"]
    assert find_hotspots(session, cfg, parse_filter({}, cfg), MONTH, service_scope="").hotspots == []


def test_geojson_for_the_map(session: Session, cfg: Config) -> None:
    spot = _spot(session, cfg, 6)
    session.commit()
    body = geojson(find_hotspots(session, cfg, parse_filter({}, cfg), MONTH), report_url=lambda n: f"/signalements/{n}")
    assert body["type"] == "FeatureCollection" and body["period"] == {
        "since": "2024-05-17",
        "until": "2024-06-15",
        "days": 30,
    }
    [feature] = body["features"]
    lon, lat = feature["geometry"]["coordinates"]
    assert feature["geometry"]["type"] == "Point" and metres((lat, lon), ROQUETTE) < 60
    props = feature["properties"]
    assert props["count"] == 6 and props["category"] == "objets_abandonnes" and props["radius_m"] >= 10
    assert props["label"].startswith("6 dépôts sauvages en 30 jours")
    assert {r["url"] for r in props["reports"]} == {f"/signalements/{r.tracking_number}" for r in spot}
    assert all(r["created_at"].endswith("+00:00") for r in props["reports"])


def _dansmarue() -> list[dict[str, str]]:
    with DMR.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _street(address: str) -> str:
    first = address.split(",")[0].split()
    return " ".join(first[1:] if first and first[0][:1].isdigit() else first)


def test_real_dansmarue_month(session: Session, cfg: Config) -> None:
    """July 2024 in the north-east of Paris, real reports bulk-inserted: the hotspots found, checked by hand."""
    service = {c.code: c.service for c in cfg.categories}
    rows = []
    for i, r in enumerate(_dansmarue()):
        category = DMR_CATEGORIES[r["type"]]
        rows.append(
            {
                "tracking_number": f"2024-9{i:04d}",
                "public_token": uuid.uuid4().hex,
                "channel": "open311",
                "category": category,
                "service": service[category],
                "status": "transmis",
                "category_source": "app",
                "lat": float(r["lat"]),
                "lon": float(r["lon"]),
                "address_label": r["adresse"],
                "address_voie": _street(r["adresse"]),
                "created_at": datetime.fromisoformat(r["datedecl"] + "T10:00:00+02:00"),
                "review_reasons": [],
                "confidence": {},
                "notes": [],
            }
        )
    session.execute(insert(Report), rows)
    session.commit()
    july = Period(date(2024, 7, 1), date(2024, 7, 31))
    result = find_hotspots(session, cfg, parse_filter({}, cfg), july)
    assert result.located == 453
    # The open data is a sample of the city's reports: at the town's thresholds (7 over 31 days) nothing stands out.
    assert result.hotspots == []
    tags = find_hotspots(session, cfg, parse_filter({"categorie": "graffitis"}, cfg), july, min_reports=5)
    assert [h.label for h in tags.hotspots] == ["5 tags et affichages sauvages en 31 jours autour du quai de Valmy"]
    assert (
        find_hotspots(session, cfg, parse_filter({"categorie": "graffitis"}, cfg), july, min_reports=6).hotspots == []
    )  # the sixth tag nearby is just over 100 m away
    dumps = find_hotspots(session, cfg, parse_filter({"categorie": "objets_abandonnes"}, cfg), july, min_reports=5)
    # Five streets near the Gare de l'Est, none twice: the one reported nearest the centre names the place.
    assert {h.label for h in dumps.hotspots} == {
        f"5 dépôts sauvages en 31 jours autour de la rue {street}"
        for street in ("du Terrage", "Léon Frot", "Pierre Budin", "du 8 Mai 1945")
    }
    for hot in dumps.hotspots:
        points = [(m.lat, m.lon) for m in hot.reports]
        assert max(metres(p, q) for p in points for q in points) <= 300
        assert all(m.number.startswith("2024-9") for m in hot.reports)


def test_bad_hotspot_settings_name_the_key() -> None:
    from intake.config import ConfigError, parse_config
    from tests.conftest import base_config_data

    for hotspots, message in (
        ({"categories": {"depots": {"min_reports": 5}}}, "hotspots.categories: unknown category depots"),
        ({"exclude": ["inconnue"]}, "hotspots.exclude: unknown category inconnue"),
        ({"default": {"min_reports": 1}}, "hotspots.default.min_reports"),
        ({"categories": {"voirie": {"radius_m": 5}}}, "hotspots.categories.voirie.radius_m"),
        ({"default": {"jours": 30}}, "hotspots.default.jours"),
    ):
        data = base_config_data()
        data["hotspots"] = hotspots
        with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
            parse_config(data)
