"""/metrics: Prometheus figures per door, outbox and processing time, for a token or an allowed address only."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask import Flask

from intake.config import Config
from intake.models import MailboxState, Outbox, RawMessage, utcnow
from intake.runtime.db import make_engine, make_sessionmaker
from web import create_app

TOKEN = "un-jeton-de-supervision-assez-long"


def _value(text: str, series: str) -> float:
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match, f"{series} missing from:\n{text}"
    return float(match.group(1))


def _fill(cfg: Config) -> None:
    now = utcnow()
    engine = make_engine(cfg.sqlalchemy_url)
    factory = make_sessionmaker(engine)
    rows = [
        ("email", "processed", 3, 1.5),
        ("email", "processed", 50, 40.0),
        ("email", "pending", 600, None),
        ("email", "pending", 30, None),
        ("sms", "processed", 20, 0.5),
        ("sms", "failed", 100, None),
        ("open311", "processing", 10, None),
    ]
    with factory() as session, session.begin():
        for i, (channel, status, age, took) in enumerate(rows):
            received = now - timedelta(seconds=age)
            session.add(
                RawMessage(
                    channel=channel,
                    source="test",
                    external_key=f"k{i}",
                    payload=b"x",
                    payload_sha256=f"{i:064d}",
                    received_at=received,
                    status=status,
                    processed_at=received + timedelta(seconds=took) if took is not None else None,
                )
            )
        for i, (channel, status) in enumerate(
            [("email", "pending"), ("email", "sending"), ("sms", "failed"), ("email", "sent")]
        ):
            session.add(
                Outbox(
                    report_id=None,
                    kind=f"k{i}",
                    channel=channel,
                    recipient=f"r{i}@x.fr",
                    message_id=f"m{i}@x",
                    status=status,
                )
            )
        session.add(MailboxState(name="mairie", last_uid=0, last_success_at=now, last_poll_at=now))
        session.add(MailboxState(name="accueil", last_uid=0, last_poll_at=now, last_error="identification refusée"))
    engine.dispose()


@pytest.fixture
def app_for(make_config: Callable[..., Config]) -> Iterator[Callable[..., Flask]]:
    """create_app on a test config; every app's database connections closed at the end."""
    apps: list[Flask] = []

    def build(cfg: Config) -> Flask:
        apps.append(create_app(cfg))
        return apps[-1]

    yield build
    for app in apps:
        app.extensions["guichet"].dispose()


def test_metrics_per_door_outbox_and_processing_time(
    make_config: Callable[..., Config], app_for: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GUICHET_TEST_METRICS_TOKEN", TOKEN)
    cfg = make_config(web={"metrics_token": {"env": "GUICHET_TEST_METRICS_TOKEN"}})
    _fill(cfg)
    client = app_for(cfg).test_client()
    page = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert page.status_code == 200 and page.content_type.startswith("text/plain; version=0.0.4")
    text = page.get_data(as_text=True)
    assert _value(text, 'guichet_messages_received_total{channel="email"}') == 4
    assert _value(text, 'guichet_messages_received_total{channel="whatsapp"}') == 0  # every door has its series
    assert _value(text, 'guichet_messages_backlog{channel="email"}') == 2
    assert _value(text, 'guichet_messages_backlog{channel="open311"}') == 1
    assert 590 <= _value(text, 'guichet_messages_oldest_pending_age_seconds{channel="email"}') < 700
    assert _value(text, 'guichet_messages_failed{channel="sms"}') == 1
    assert _value(text, 'guichet_outbox_pending{channel="email"}') == 2
    assert _value(text, 'guichet_outbox_failed{channel="sms"}') == 1
    assert _value(text, 'guichet_processing_seconds_bucket{le="1"}') == 1  # the 0.5 s SMS
    assert _value(text, 'guichet_processing_seconds_bucket{le="2"}') == 2  # + the 1.5 s email
    assert _value(text, 'guichet_processing_seconds_bucket{le="30"}') == 2
    assert _value(text, 'guichet_processing_seconds_bucket{le="60"}') == 3  # + the 40 s email
    assert _value(text, 'guichet_processing_seconds_bucket{le="+Inf"}') == 3
    assert _value(text, "guichet_processing_seconds_count") == 3
    assert abs(_value(text, "guichet_processing_seconds_sum") - 42.0) < 0.01
    assert _value(text, 'guichet_mailbox_up{mailbox="mairie"}') == 1
    assert _value(text, 'guichet_mailbox_up{mailbox="accueil"}') == 0
    assert "# TYPE guichet_processing_seconds histogram" in text


def test_metrics_refused_without_token_or_allowed_address(
    make_config: Callable[..., Config], app_for: Callable[..., Flask], monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = app_for(make_config()).test_client()
    page = closed.get("/metrics")
    assert page.status_code == 403
    assert page.get_data(as_text=True) == (
        "métriques désactivées : configurez web.metrics_token ou web.metrics_allow\n"
    )
    monkeypatch.setenv("GUICHET_TEST_METRICS_TOKEN", TOKEN)
    cfg = make_config(web={"metrics_token": {"env": "GUICHET_TEST_METRICS_TOKEN"}, "metrics_allow": ["10.1.2.0/24"]})
    client = app_for(cfg).test_client()
    assert client.get("/metrics", headers={"Authorization": "Bearer mauvais"}).status_code == 403
    assert client.get("/metrics").get_data(as_text=True) == "accès aux métriques refusé\n"
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.2.7"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "10.1.3.7"}).status_code == 403


def test_metrics_allow_list_is_checked_at_load(make_config: Callable[..., Config]) -> None:
    from intake.config import ConfigError

    with pytest.raises(ConfigError, match=r"web\.metrics_allow.*'intranet' n'est ni une adresse IP ni un réseau"):
        make_config(web={"metrics_allow": ["intranet"]})
