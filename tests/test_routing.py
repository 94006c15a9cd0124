"""Routing: zones (GeoJSON, holes, multipolygons, the demo sectors), rules, the route stage, referents, re-routing."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from intake.config import Config, ConfigError
from intake.models import Event, Outbox, Report
from intake.outbox.notify import ConsoleMailer
from intake.outbox.referents import notify_referents, outbox_kind
from intake.outbox.send import send_outbox_row
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.reports.routing import decide, reroute
from intake.reports.statuses import change_status
from intake.reports.zones import load_zones, parse_zones, zones_for
from intake.runtime.resources import Resources, build_resources
from tests.conftest import ROOT, CaughtMail
from tests.support.mail import citizen_email
from tests.test_understanding import ISSUE_EXAMPLE, ingest

DEMO_ZONES = ROOT / "data" / "demo" / "zones-paris-secteurs.geojson"
SECTOR_OF = {
    1: "centre",
    2: "centre",
    3: "centre",
    4: "centre",
    11: "est",
    12: "est",
    20: "est",
    9: "nord",
    10: "nord",
    18: "nord",
    19: "nord",
    5: "sud",
    6: "sud",
    13: "sud",
    14: "sud",
    7: "ouest",
    8: "ouest",
    15: "ouest",
    16: "ouest",
    17: "ouest",
}
ROUTED = {"auto_transmit": True}  # the shipped setting (tests default to routing without transmitting)
NORTH_LITTER = (
    "Bonjour, les poubelles débordent et il y a des ordures partout sur le trottoir au 1 avenue Junot. "
    "Merci de faire nettoyer."
)


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[float]]:
    """A closed rectangular ring (lon, lat)."""
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def feature(code: str, geometry: dict[str, Any], name: str | None = None) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code, "nom": name or f"Zone {code}"}, "geometry": geometry}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


SYNTHETIC = collection(
    # a ring with a hole in the middle (a park served by another team)
    feature("anneau", {"type": "Polygon", "coordinates": [square(0, 0, 10, 10), square(4, 4, 6, 6)]}),
    feature("parc", {"type": "Polygon", "coordinates": [square(4, 4, 6, 6)]}),
    # two islands
    feature("iles", {"type": "MultiPolygon", "coordinates": [[square(20, 0, 21, 1)], [square(30, 0, 31, 1)]]}),
    # overlaps "anneau": listed after it, so it only gets what anneau does not cover
    feature("large", {"type": "Polygon", "coordinates": [square(-5, -5, 15, 15)]}),
)


def test_zone_lookup_inside_outside_hole_multipolygon() -> None:
    zones = parse_zones(SYNTHETIC)

    def at(lon: float, lat: float) -> str | None:
        found = zones.zone_at(lat, lon)
        return found.code if found else None

    assert at(2, 2) == "anneau" and at(8, 5) == "anneau"
    assert at(5, 5) == "parc"  # in the hole of anneau
    assert at(20.5, 0.5) == "iles" and at(30.5, 0.5) == "iles"
    assert at(25, 0.5) is None  # between the islands, inside the multipolygon's bbox
    assert at(-2, -2) == "large" and at(12, 12) == "large"
    assert at(50, 50) is None and zones.zone_at(None, None) is None and zones.zone_at(float("nan"), 1) is None
    assert zones.name("parc") == "Zone parc" and zones.name("disparue") == "disparue" and zones.name(None) is None


def test_numeric_codes_and_missing_names() -> None:
    doc = collection(
        {
            "type": "Feature",
            "properties": {"code": 75018},
            "geometry": {"type": "Polygon", "coordinates": [square(0, 0, 1, 1)]},
        }
    )
    zone = parse_zones(doc).zone_at(0.5, 0.5)
    assert zone is not None and zone.code == "75018" and zone.name == "75018"


def test_demo_sectors_on_real_addresses() -> None:
    """Every address of the demo extract falls in a sector; measured agreement with its arrondissement's sector."""
    zones = load_zones(DEMO_ZONES)
    assert zones.codes == ["centre", "est", "nord", "sud", "ouest"]
    found = zones.zone_at(48.8538, 2.4059)  # 72 rue des Pyrénées, 20e
    assert found is not None and found.code == "est" and "20e" in found.name
    agree: Counter[str] = Counter()
    total: Counter[str] = Counter()
    with (ROOT / "data" / "demo" / "adresses-paris-extrait.csv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter=";"):
            expected = SECTOR_OF[int(row["code_insee"]) - 75100]
            zone = zones.zone_at(float(row["lat"]), float(row["lon"]))
            assert zone is not None, row["id"]
            total[expected] += 1
            agree[expected] += zone.code == expected
    assert sum(total.values()) == 9055
    assert sum(agree.values()) / sum(total.values()) >= 0.98  # measured: 98.1 % (hulls overlap at the edges)
    assert all(agree[s] / total[s] >= 0.9 for s in total)


def test_shipped_config_routes_with_the_demo_zones() -> None:
    from intake.config import load_config

    cfg = load_config(ROOT / "config.yaml")
    zones = zones_for(cfg)
    assert zones is not None and zones.codes == ["centre", "est", "nord", "sud", "ouest"]
    assert cfg.routing.auto_transmit and decide(cfg, "proprete", "nord").service == "proprete-nord"
    assert cfg.service("proprete-nord") is not None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read"),
        ("{not json", "is not JSON"),
        (json.dumps({"type": "Feature"}), "not a GeoJSON FeatureCollection"),
        (json.dumps(collection()), "has no zone"),
        (
            json.dumps(collection(feature("a", {"type": "Point", "coordinates": [2.3, 48.8]}))),
            "Polygon or MultiPolygon",
        ),
        (
            json.dumps(
                collection(feature("a", {"type": "Polygon", "coordinates": [square(0, 0, 1, 1)[:-1] + [[0, 2]]]}))
            ),
            "ring not closed",
        ),
        (
            json.dumps(collection(feature("a", {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}))),
            "at least 4 positions",
        ),
        (json.dumps(collection(feature("a", {"type": "Polygon", "coordinates": [square(0, 0, 200, 1)]}))), "WGS84"),
        (
            json.dumps(
                collection(
                    {
                        "type": "Feature",
                        "properties": {"nom": "x"},
                        "geometry": {"type": "Polygon", "coordinates": [square(0, 0, 1, 1)]},
                    }
                )
            ),
            "property 'code'",
        ),
        (
            json.dumps(
                collection(
                    feature("a", {"type": "Polygon", "coordinates": [square(0, 0, 1, 1)]}),
                    feature("a", {"type": "Polygon", "coordinates": [square(2, 0, 3, 1)]}),
                )
            ),
            "repeated: a",
        ),
    ],
)
def test_bad_zones_file_is_a_config_error(
    make_config: Callable[..., Config], tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "zones.geojson"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    cfg = make_config(routing={"zones_file": str(path), "rules": []})
    with pytest.raises(ConfigError, match="routing.zones_file") as caught:
        build_resources(cfg, mailer=ConsoleMailer())
    assert message in str(caught.value)


def test_rule_naming_an_unknown_zone_is_a_config_error(make_config: Callable[..., Config]) -> None:
    cfg = make_config(routing={"rules": [{"category": "proprete", "zone": "montmartre", "service": "proprete"}]})
    with pytest.raises(ConfigError, match=r"routing.rules\[0\].zone: unknown zone 'montmartre'"):
        build_resources(cfg, mailer=ConsoleMailer())


def test_rule_precedence(make_config: Callable[..., Config]) -> None:
    cfg = make_config(
        routing={
            "rules": [
                {"category": "*", "zone": "nord", "service": "accueil"},
                {"category": "proprete", "zone": "nord", "service": "proprete-nord"},
                {"category": "proprete", "zone": "nord", "service": "voirie"},  # shadowed by the one above
            ]
        }
    )
    assert decide(cfg, "proprete", "nord").service == "proprete-nord"  # category + zone beats "*" listed first
    assert decide(cfg, "proprete", "nord").rule == 1
    assert decide(cfg, "eclairage", "nord").service == "accueil" and decide(cfg, "eclairage", "nord").rule == 0
    assert decide(cfg, "proprete", "sud").service == "proprete" and decide(cfg, "proprete", "sud").rule is None
    assert decide(cfg, "graffitis", None).service == "proprete"  # no zone: the category's service
    assert decide(cfg, None, "nord").service is None


def test_outbox_kinds_fit_the_column() -> None:
    long_a, long_b = "s" * 40, "s" * 39 + "t"
    for kind in (outbox_kind("referent", long_a), outbox_kind("digest", long_a, ":2026-03-14")):
        assert len(kind) <= 40
    assert outbox_kind("referent", long_a) != outbox_kind("referent", long_b)
    assert outbox_kind("referent", long_a) == outbox_kind("referent", long_a)
    assert outbox_kind("referent", "voirie") == "referent:voirie"


@pytest.fixture
def res(make_config: Callable[..., Config]) -> Resources:
    return build_resources(make_config(routing=ROUTED), mailer=ConsoleMailer())


def _events(res: Resources, report_id: int, action: str) -> list[dict[str, Any]]:
    with res.factory() as s:
        return [
            e
            for e in s.execute(
                select(Event.detail).where(Event.report_id == report_id, Event.action == action)
            ).scalars()
        ]


def _outbox(res: Resources, **where: Any) -> list[Outbox]:
    with res.factory() as s:
        return list(s.execute(select(Outbox).filter_by(**where).order_by(Outbox.id)).scalars())


def test_new_report_is_routed_transmitted_and_the_referent_mailed(
    make_config: Callable[..., Config], smtp_server: tuple[str, int, CaughtMail]
) -> None:
    host, port, caught = smtp_server
    cfg = make_config(smtp={"backend": "smtp", "host": host, "port": port}, routing=ROUTED)
    res = build_resources(cfg)
    body = ISSUE_EXAMPLE + "\nMon portable : 06 12 34 56 78"
    raw = citizen_email(sender="Jeanne Martin <jeanne.martin@example.org>", subject="Lampadaire", body=body)
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed" and outcome.report_id is not None
    with res.factory() as s:
        report = s.get(Report, outcome.report_id)
        assert report is not None
        number = report.tracking_number
        assert (report.zone, report.service, report.status) == ("est", "eclairage", "transmis")
    assert _events(res, outcome.report_id, "routed") == [
        {"service": "eclairage", "zone": "est", "rule": None, "by": "category"}
    ]
    referent = _outbox(res, kind="referent:eclairage")
    assert [(r.recipient, r.report_id) for r in referent] == [("eclairage@mairie.localhost", outcome.report_id)]
    assert referent[0].id in outcome.outbox_ids
    assert _outbox(res, kind="status_transmis") == []  # the citizen has the confirmation, no second message
    for outbox_id in outcome.outbox_ids:
        send_outbox_row(res.factory, cfg, outbox_id, res.mailer)
    to_referent = [m for m in caught.messages if m["to"] == ["eclairage@mairie.localhost"]]
    assert len(to_referent) == 1 and any(m["to"] == ["jeanne.martin@example.org"] for m in caught.messages)
    message = to_referent[0]["message"]
    text = message.get_content()
    assert message["Subject"] == f"[Éclairage public] Nouveau signalement n° {number} : Éclairage public"
    assert "72 Rue des Pyrénées 75020 Paris" in text and f"http://localhost:8000/signalements/{number}" in text
    assert "lampadaire" in text and "jeanne.martin" not in text and "06 12 34 56 78" not in text
    assert "Jeanne" not in text
    assert message["Auto-Submitted"] == "auto-replied"
    assert _outbox(res, kind="referent:eclairage")[0].status == "sent"


def with_notify(cfg: Config, code: str, notify: str) -> list[dict[str, Any]]:
    """The services of `cfg` with `code` switched to another notify mode (to pass to make_config)."""
    return [{**s.model_dump(), **({"notify": notify} if s.code == code else {})} for s in cfg.services]


def test_rule_routes_to_the_sector_team(res: Resources) -> None:
    report = ingest(res, citizen_email(subject="Propreté", body=NORTH_LITTER))
    assert (report.category, report.zone, report.service, report.status) == (
        "proprete",
        "nord",
        "proprete-nord",
        "transmis",
    )
    assert _events(res, report.id, "routed")[0] == {
        "service": "proprete-nord",
        "zone": "nord",
        "rule": 0,
        "by": "rule",
        "from": "proprete",
    }
    told = _outbox(res, report_id=report.id, kind="referent:proprete-nord")
    assert [o.recipient for o in told] == ["proprete-nord@mairie.localhost"]
    assert _outbox(res, report_id=report.id, kind="referent:proprete") == []


def test_digest_service_waits_for_its_digest(make_config: Callable[..., Config]) -> None:
    base = make_config()
    cfg = make_config(services=with_notify(base, "proprete-nord", "digest"), routing=ROUTED)
    res = build_resources(cfg, mailer=ConsoleMailer())
    report = ingest(res, citizen_email(subject="Propreté", body=NORTH_LITTER))
    assert (report.service, report.status) == ("proprete-nord", "transmis")
    assert [o for o in _outbox(res, report_id=report.id) if o.kind.startswith("referent:")] == []
    assert _events(res, report.id, "referents_digest") == [{"service": "proprete-nord"}]


def test_unsure_report_is_routed_but_not_transmitted_until_an_agent_does(res: Resources) -> None:
    report = ingest(res, citizen_email(subject="Problème", body="Il y a un souci, pouvez-vous passer ?"))
    assert report.status == "a_qualifier" and report.zone is None
    assert _outbox(res, report_id=report.id, channel="email") != []  # the confirmation
    assert [o for o in _outbox(res, report_id=report.id) if o.kind.startswith("referent:")] == []
    with res.factory() as s, s.begin():
        row = s.get(Report, report.id)
        assert row is not None
        row.service = "voirie"
        ids = change_status(s, res.config, row, "transmis", actor="agent.durand")
    referent = _outbox(res, report_id=report.id, kind="referent:voirie")
    assert [o.recipient for o in referent] == ["voirie@mairie.localhost"] and referent[0].id in ids


def test_duplicate_is_not_transmitted_again(res: Resources) -> None:
    first = ingest(res, citizen_email(sender="Jeanne Martin <jeanne.martin@example.org>", body=ISSUE_EXAMPLE))
    body = "Bonjour, le lampadaire en face du 72 rue des Pyrénées est éteint depuis plusieurs jours. Merci"
    second = ingest(res, citizen_email(sender="Paul Durand <paul.durand@example.net>", subject="Éclairage", body=body))
    assert second.duplicate_of_id == first.id and second.service == "eclairage" and second.zone == "est"
    assert first.status == "transmis" and second.status == "nouveau"
    assert [o.report_id for o in _outbox(res, kind="referent:eclairage")] == [first.id]


def test_without_auto_transmit_reports_wait_for_an_agent(make_config: Callable[..., Config]) -> None:
    res = build_resources(make_config(routing={"auto_transmit": False}), mailer=ConsoleMailer())
    report = ingest(res, citizen_email(body=ISSUE_EXAMPLE))
    assert (report.service, report.zone, report.status) == ("eclairage", "est", "nouveau")
    assert _outbox(res, kind="referent:eclairage") == []


def test_referents_are_told_once_per_report_and_service(res: Resources, make_config: Callable[..., Config]) -> None:
    report = ingest(res, citizen_email(body=ISSUE_EXAMPLE))
    cfg = make_config(
        services=[
            *[s.model_dump() for s in res.config.services if s.code != "eclairage"],
            {
                "code": "eclairage",
                "name": "Éclairage public",
                "emails": ["eclairage@mairie.localhost", "astreinte@mairie.localhost"],
            },
        ]
    )
    with res.factory() as s, s.begin():
        row = s.get(Report, report.id)
        assert row is not None
        again = notify_referents(s, cfg, row)
        assert len(again) == 1  # only the referent added since
        assert notify_referents(s, cfg, row) == []
        row.service = "police"
        silent = cfg.model_copy(
            update={
                "services": [
                    s_.model_copy(update={"notify": "none"}) if s_.code == "police" else s_ for s_ in cfg.services
                ]
            }
        )
        assert notify_referents(s, silent, row) == []
    recipients = sorted(o.recipient for o in _outbox(res, report_id=report.id) if o.kind == "referent:eclairage")
    assert recipients == ["astreinte@mairie.localhost", "eclairage@mairie.localhost"]
    assert _outbox(res, report_id=report.id, kind="referent:police") == []


def test_agent_reroutes_a_transmitted_report(res: Resources) -> None:
    report = ingest(res, citizen_email(body=ISSUE_EXAMPLE))
    with res.factory() as s, s.begin():
        row = s.get(Report, report.id)
        assert row is not None
        with pytest.raises(ValueError, match="Service inconnu : nimporte"):
            reroute(s, res.config, row, "nimporte", actor="agent.durand")
        ids = reroute(s, res.config, row, "voirie", actor="agent.durand", note="Candélabre tombé : voirie")
        assert reroute(s, res.config, row, "voirie", actor="agent.durand") == []  # already there
        assert row.service == "voirie"
    assert _events(res, report.id, "rerouted") == [
        {"from": "eclairage", "to": "voirie", "note": "Candélabre tombé : voirie", "notified": 1}
    ]
    told = _outbox(res, report_id=report.id, kind="referent:voirie")
    assert [o.recipient for o in told] == ["voirie@mairie.localhost"] and [o.id for o in told] == ids
    # back to the first service: its referents already know this report
    with res.factory() as s, s.begin():
        row = s.get(Report, report.id)
        assert row is not None
        assert reroute(s, res.config, row, "eclairage", actor="agent.durand") == []
    assert len(_outbox(res, report_id=report.id, kind="referent:eclairage")) == 1


def test_rerouting_a_report_being_qualified_tells_the_service_on_transmission(res: Resources) -> None:
    report = ingest(res, citizen_email(subject="Problème", body="Il y a un souci, pouvez-vous passer ?"))
    with res.factory() as s, s.begin():
        row = s.get(Report, report.id)
        assert row is not None
        assert reroute(s, res.config, row, "espaces-verts", actor="agent.durand") == []
        ids = change_status(s, res.config, row, "transmis", actor="agent.durand")
    told = _outbox(res, report_id=report.id, kind="referent:espaces-verts")
    assert [o.recipient for o in told] == ["espaces-verts@mairie.localhost"] and told[0].id in ids


def test_zones_are_cached_per_file_version(make_config: Callable[..., Config], tmp_path: Path) -> None:
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(SYNTHETIC), encoding="utf-8")
    cfg = make_config(routing={"zones_file": str(path), "rules": []})
    first = zones_for(cfg)
    assert first is not None and zones_for(cfg) is first
    path.write_text(
        json.dumps(collection(feature("seule", {"type": "Polygon", "coordinates": [square(0, 0, 1, 1)]}))),
        encoding="utf-8",
    )
    second = zones_for(cfg)
    assert second is not None and second.codes == ["seule"]
