"""The queue page: filters, search, counts per status, keyset pages, an agent's service only."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import insert

from intake.config import Config
from intake.models import Attachment, Report, ReportMessage
from intake.outbox.notify import ConsoleMailer
from intake.runtime.resources import build_resources
from tests.support.web import signed_in
from web import create_app

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


@pytest.fixture
def app(make_config: Callable[..., Config]) -> Flask:
    """120 reports: categories, services, channels and statuses in turn, one a day back from NOW."""
    cfg = make_config()
    res = build_resources(cfg, mailer=ConsoleMailer())
    cats = [("voirie", "voirie"), ("eclairage", "eclairage"), ("proprete", "proprete")]
    channels = ["email", "sms", "open311", "telephone"]
    statuses = ["nouveau", "a_qualifier", "transmis", "en_cours", "resolu"]
    rows = []
    for i in range(120):
        category, service = cats[i % 3]
        rows.append(
            {
                "id": i + 1,
                "tracking_number": f"2026-{i + 1:05d}",
                "public_token": f"t{i}",
                "channel": channels[i % 4],
                "subject": f"Sujet {i} {'matelas' if i == 7 else ''}",
                "description": "texte",
                "category": category,
                "service": service,
                "status": statuses[i % 5],
                "category_source": "model",
                "confidence": {"category": 0.8},
                "review_reasons": [],
                "notes": [],
                "citizen_recovered": True,
                "location_source": "text" if i % 2 else "none",
                "lat": 48.85 if i % 2 else None,
                "lon": 2.35 if i % 2 else None,
                "address_label": "24 Rue de la Roquette 75011 Paris" if i == 9 else None,
                "duplicate_of_id": 1 if i in (60, 61) else None,
                "created_at": NOW - timedelta(days=119 - i),
                "updated_at": NOW,
            }
        )
    with res.factory() as s, s.begin():
        s.execute(insert(Report), rows)
        s.flush()
        from intake.models import RawMessage

        s.execute(
            insert(RawMessage),
            [
                {
                    "id": 1,
                    "channel": "email",
                    "source": "m",
                    "external_key": "k",
                    "payload": b"x",
                    "payload_sha256": "0" * 64,
                    "status": "processed",
                    "received_at": NOW,
                    "attempts": 0,
                }
            ],
        )
        s.execute(
            insert(ReportMessage),
            [
                {
                    "id": 1,
                    "report_id": 5,
                    "raw_message_id": 1,
                    "role": "original",
                    "subject": "",
                    "text": "",
                    "quoted": "",
                    "signature": "",
                    "details": {},
                    "created_at": NOW,
                }
            ],
        )
        s.execute(
            insert(Attachment),
            [
                {
                    "report_id": 5,
                    "report_message_id": 1,
                    "sha256": "a" * 64,
                    "filename": "p.jpg",
                    "content_type": "image/jpeg",
                    "size": 10,
                    "is_image": True,
                }
            ],
        )
    return create_app(cfg, resources=res)


def numbers(page: str) -> list[str]:
    return re.findall(r'<a href="/signalements/(2026-\d{5})"', page)


def get(client: object, url: str) -> str:
    answer = client.get(url)  # type: ignore[attr-defined]
    assert answer.status_code == 200, url
    return html.unescape(answer.get_data(as_text=True))


def test_newest_first_with_counts_and_keyset_pages(app: Flask) -> None:
    client = signed_in(app, "admin")
    first = get(client, "/")
    shown = numbers(first)
    assert len(shown) == 50 and shown[0] == "2026-00120" and "2026-00061" not in shown  # duplicates folded
    assert "118 signalement(s)" in first and "Tous (118)" in first and "signalé 3 fois" not in first
    older = re.search(r'href="(/\?avant=\d+[^"]*)" rel="next"', first)
    assert older is not None
    second = get(client, older.group(1))
    assert numbers(second)[0] == "2026-00070" and "2026-00061" not in numbers(second)  # page one: 120..71
    newer = re.search(r'href="(/\?apres=\d+[^"]*)" rel="prev"', second)
    assert newer is not None and numbers(get(client, newer.group(1))) == shown
    last = get(client, "/?avant=19")
    assert numbers(last)[-1] == "2026-00001" and 'rel="next"' not in last
    assert "signalé 3 fois" in last  # report 1 has two duplicates


def test_filters_combine_and_bad_values_are_explained(app: Flask) -> None:
    client = signed_in(app, "admin")
    page = get(client, "/?categorie=eclairage&statut=transmis&canal=sms")
    assert numbers(page) and all(
        int(n[-5:]) % 3 == 2 and int(n[-5:]) % 5 == 3 and int(n[-5:]) % 4 == 2 for n in numbers(page)
    )
    assert set(numbers(get(client, "/?q=matelas"))) == {"2026-00008"}
    assert set(numbers(get(client, "/?q=roquette"))) == {"2026-00010"}
    assert set(numbers(get(client, "/?q=2026-00042"))) == {"2026-00042"}
    assert set(numbers(get(client, "/?photo=1"))) == {"2026-00005"}
    assert set(numbers(get(client, "/?doublons=seuls"))) == {"2026-00061", "2026-00062"}
    dated = numbers(get(client, "/?du=2026-11-18&au=2026-11-19"))
    assert dated == ["2026-00119", "2026-00118"]
    review = numbers(get(client, "/?a_qualifier=1"))
    assert review and all(int(n[-5:]) % 5 == 2 for n in review)
    bad = get(client, "/?du=hier&categorie=licornes&statut=perdu")
    assert "date de début illisible" in bad and "catégorie inconnu(e) : licornes" in bad and "statut inconnu" in bad
    assert len(numbers(bad)) == 50  # the bad filters are dropped, not fatal


def test_agent_sees_only_their_service(app: Flask) -> None:
    client = signed_in(app, "agent", "eclairage")
    page = get(client, "/")
    assert numbers(page) and all(int(n[-5:]) % 3 == 2 for n in numbers(page))
    assert "39 signalement(s)" in page  # 40 lighting reports, one of them a duplicate
    assert numbers(get(client, "/?service=voirie")) == []  # another service: nothing, not its reports
    assert "messages-en-echec" not in page


def test_queue_page_is_accessible_and_keyboard_friendly(app: Flask) -> None:
    page = get(signed_in(app, "accueil"), "/")
    assert "<caption" in page and 'scope="col"' in page and 'aria-current="page"' in page
    for field in ("q", "f-statut", "f-categorie", "f-service", "f-canal", "du", "au", "doublons"):
        assert f'for="{field}"' in page and f'id="{field}"' in page
    assert "<script>" not in page and "onclick" not in page
