"""Every real-world email of ../shared/data/emails through the whole pipeline, on a real database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from intake.config import Config
from intake.models import RawMessage
from intake.outbox.notify import ConsoleMailer
from intake.pipeline.process import process_batch
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.queue import PROCESS_BATCH
from intake.runtime.resources import build_resources
from tests.conftest import SHARED_DATA

EMAILS = SHARED_DATA / "emails"
FILES = (
    sorted(p for p in EMAILS.rglob("*") if p.is_file() and p.name not in {"LICENSE", "LICENSE.txt"})
    if EMAILS.is_dir()
    else []
)

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not EMAILS.is_dir(), reason=f"corpus folder {EMAILS} absent (runs where ../shared exists)"),
]


def test_whole_corpus_through_the_pipeline(make_config: Callable[..., Config]) -> None:
    res = build_resources(make_config(), mailer=ConsoleMailer())
    stored: dict[int, str] = {}
    for path in FILES:
        raw = path.read_bytes()
        if not raw.strip():
            continue
        raw_id, _ = store_raw(
            res.factory,
            channel="email",
            source="corpus",
            external_key=email_key(raw) + ":" + str(path.relative_to(EMAILS)),
            payload=raw,
        )
        stored[raw_id] = str(path.relative_to(EMAILS))
    # In batches, as a worker takes them (one budgeted child per batch; a message that fails is read again alone).
    ids = list(stored)
    outcomes: dict[str, str] = {}
    for start in range(0, len(ids), PROCESS_BATCH):
        for outcome in process_batch(res, ids[start : start + PROCESS_BATCH]):
            outcomes[stored[outcome.raw_id]] = outcome.status
    # flanker's deliberately endless enclosure (3,043 MIME parts) is the corpus's one bomb: parked by the limits.
    bomb = "flanker/messages/enclosed-endless.eml"
    assert outcomes.pop(bomb) == "failed"
    with res.factory() as s:
        reason = s.execute(select(RawMessage.error).where(RawMessage.external_key.endswith(bomb))).scalar_one()
    assert reason is not None and "trop de parties MIME" in reason
    failed = {name: status for name, status in outcomes.items() if status not in {"processed", "discarded"}}
    assert len(outcomes) >= 280
    if failed:
        with res.factory() as s:
            errors = dict(
                s.execute(select(RawMessage.external_key, RawMessage.error).where(RawMessage.status == "failed")).all()
            )
        pytest.fail(f"{len(failed)} file(s) failed: {list(errors.items())[:5]}")
    assert list(outcomes.values()).count("processed") > 150


def test_corpus_file_list_is_not_empty() -> None:
    assert len(FILES) > 250, [str(p) for p in FILES[:5]]


def test_parse_email_contract_over_the_whole_corpus() -> None:
    from intake.cli.inspect_email import inspect_file

    results = [inspect_file(str(p)) for p in FILES]
    not_ok = [(r["file"], r["error"]) for r in results if not r["ok"]]
    empty = [p for p in FILES if not p.read_bytes().strip()]
    # Only empty files may fail to parse (nothing to read); everything else gives a summary.
    assert [f for f, _ in not_ok] == [str(p) for p in empty], not_ok[:5]
