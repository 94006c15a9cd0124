"""Natural keys that cannot swallow a message: same key and same content is one row, other content another."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import select

from intake.backoffice.health import collect
from intake.config import Config
from intake.models import RawMessage
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.content_keys import email_fingerprint, twilio_message_fingerprint
from intake.pipeline.rawstore import KeyCollision, email_key, store_raw
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import citizen_email
from tests.support.web import signed_in
from web import create_app

MID = "formulaire-contact@ville.example"
ALICE = citizen_email(
    sender="Alice <alice@example.org>", subject="Contact", body="Le lampadaire du 12 est éteint.", message_id=MID
)
BRUNO = citizen_email(
    sender="Bruno <bruno@example.org>", subject="Contact", body="Un nid-de-poule rue Haute.", message_id=MID
)
APP_KEY = {"api_keys": [{"name": "appli-ville", "key": {"env": "KEYS_TEST_OPEN311"}}]}


@pytest.fixture
def res(make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch) -> Resources:
    monkeypatch.setenv("KEYS_TEST_OPEN311", "cle-de-test")
    return build_resources(
        make_config(open311=APP_KEY, health={"quiet_hours": "", "quiet_weekends": False}), mailer=ConsoleMailer()
    )


def _email(res: Resources, raw: bytes) -> tuple[int, bool]:
    return store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)


def _flags(res: Resources) -> list[tuple[str, str, bool]]:
    with res.factory() as s:
        return [
            tuple(row)
            for row in s.execute(
                select(RawMessage.channel, RawMessage.external_key, RawMessage.key_collision).order_by(RawMessage.id)
            )
        ]


def test_email_fingerprint_ignores_transport_and_sees_content() -> None:
    relayed = (
        b"Received: from mx2 by imap; Mon, 7 Dec 2026 10:00:00 +0100\nDelivered-To: mairie@ville.example\n"
        + ALICE.replace(b"\r\n", b"\n")
        + b"\n\n"
    )
    assert email_fingerprint(relayed) == email_fingerprint(ALICE)
    assert email_fingerprint(BRUNO) != email_fingerprint(ALICE)
    later = ALICE.replace(b"Date: ", b"Date: Tue, 8 Dec 2026 09:00:00 +0100\r\nX-Old-Date: ")
    assert email_fingerprint(later) != email_fingerprint(ALICE)  # another date: another message
    assert email_fingerprint(b"no header block at all") == email_fingerprint(b"no header block at all")


def test_twilio_fingerprint_is_what_webhook_and_poll_share() -> None:
    webhook = (
        b"FromCity=PARIS&Body=Trou&To=%2B33700000000&From=%2B33612345678&NumMedia=1"
        b"&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2F2010-04-01%2FAccounts%2FAC1%2FMessages%2FMM1%2FMedia%2FME1"
    )
    poll = (
        b"From=%2B33612345678&To=%2B33700000000&Body=Trou&NumMedia=1"
        b"&MediaUrl0=http%3A%2F%2F127.0.0.1%3A9%2F2010-04-01%2FAccounts%2FAC1%2FMessages%2FMM1%2FMedia%2FME1"
    )
    assert twilio_message_fingerprint(webhook) == twilio_message_fingerprint(poll)
    assert twilio_message_fingerprint(poll.replace(b"Body=Trou", b"Body=Tag")) != twilio_message_fingerprint(poll)
    assert twilio_message_fingerprint(poll.replace(b"ME1", b"ME2")) != twilio_message_fingerprint(poll)


def test_reused_message_id_keeps_both_mails_and_redelivery_keeps_one(res: Resources) -> None:
    alice_id, created = _email(res, ALICE)
    assert created
    assert _email(res, b"Received: from relay by mx; Mon, 7 Dec 2026 10:00:00 +0100\r\n" + ALICE) == (alice_id, False)
    bruno_id, created = _email(res, BRUNO)
    assert created and bruno_id != alice_id
    assert _email(res, BRUNO) == (bruno_id, False)  # Bruno's mail delivered again is Bruno's row
    assert _email(res, ALICE) == (alice_id, False)
    assert _flags(res) == [("email", f"mid:{MID}", False), ("email", f"mid:{MID}", True)]


def test_signed_doors_can_refuse_a_reused_key(res: Resources) -> None:
    first, _ = store_raw(
        res.factory,
        channel="sms",
        source="+33700000000",
        external_key="SM1",
        payload=b"From=%2B33612345678&To=%2B33700000000&Body=Trou",
        refuse_other_content=True,
    )
    with pytest.raises(KeyCollision) as refused:
        store_raw(
            res.factory,
            channel="sms",
            source="+33700000000",
            external_key="SM1",
            payload=b"From=%2B33612345678&To=%2B33700000000&Body=Autre",
            refuse_other_content=True,
        )
    assert refused.value.raw_id == first and len(_flags(res)) == 1


def test_open311_token_reused_with_other_content_is_kept(res: Resources) -> None:
    payloads = [json.dumps({"service_code": "voirie", "description": text}).encode() for text in ("Trou", "Tag")]
    ids = [
        store_raw(res.factory, channel="open311", source="appli-ville", external_key="jeton-1", payload=p)
        for p in (*payloads, payloads[0])
    ]
    assert [created for _, created in ids] == [True, True, False] and ids[2][0] == ids[0][0]
    assert _flags(res) == [("open311", "jeton-1", False), ("open311", "jeton-1", True)]


def test_a_key_longer_than_the_column_is_recognised_again(res: Resources) -> None:
    long_id = "x" * 300 + "@relais.example"
    raw = citizen_email(message_id=long_id)
    first = _email(res, raw)
    assert first[1] and _email(res, raw) == (first[0], False)


def test_health_counts_collisions_per_door_and_shows_them(res: Resources) -> None:
    _email(res, ALICE)
    _email(res, BRUNO)
    _email(res, ALICE)  # a re-delivery is no collision
    for text in ("Trou", "Tag"):
        store_raw(
            res.factory,
            channel="open311",
            source="appli-ville",
            external_key="jeton-1",
            payload=json.dumps({"description": text}).encode(),
        )

    snapshot = collect(res.factory, res.config)

    counts = {door.key: door.key_collisions for door in snapshot.doors if door.key_collisions}
    assert counts == {"email:mairie": 1, "open311:appli-ville": 1} and snapshot.key_collisions == 2
    page = signed_in(create_app(res.config, resources=res), "admin").get("/sante-des-canaux")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Identifiant réutilisé pour un autre contenu : 2 message(s) gardé(s) à part" in text
    assert "Application « appli-ville » : 1" in text
