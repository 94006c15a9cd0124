"""A batch: claimed at once, read in one budgeted child, filed a few messages per commit, one failure parked alone."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import event, func, select

from intake.config import Config
from intake.models import Outbox, RawMessage, Report, ReportMessage
from intake.pipeline import process
from intake.pipeline.rawstore import email_key, store_raw
from intake.pipeline.registry import Context, ReadContext
from intake.pipeline.stages.dedupe import DedupeStage
from intake.pipeline.stages.screen import ScreenStage
from intake.runtime.resources import Resources, build_resources
from tests.support.mail import citizen_email


def stored(res: Resources, subjects: list[str]) -> list[int]:
    ids = []
    for i, subject in enumerate(subjects):
        raw = citizen_email(sender=f"citoyen{i}@example.org", subject=subject)
        ids.append(
            store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)[0]
        )
    return ids


def rows(res: Resources) -> dict[int, tuple[str, str | None]]:
    with res.factory() as s:
        return {i: (st, err) for i, st, err in s.execute(select(RawMessage.id, RawMessage.status, RawMessage.error))}


def count(res: Resources, model: Any) -> int:
    with res.factory() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


class BreaksOnPoison(DedupeStage):
    """Files its rows, then fails, on the message whose subject says "poison" (a bug met by one message)."""

    def file(self, ctx: Context) -> None:
        ctx.session.flush()  # the report, its message and its events exist in the transaction
        if ctx.inbound is not None and "poison" in (ctx.inbound.subject or ""):
            raise RuntimeError("panne simulée")
        super().file(ctx)


class KillsTheReader(ScreenStage):
    """Kills the understanding child on the message whose subject says "hostile" (a parser crashing in C)."""

    def read(self, ctx: ReadContext) -> None:
        if ctx.reading.inbound is not None and "hostile" in (ctx.reading.inbound.subject or ""):
            os._exit(9)
        super().read(ctx)


def with_stage(res: Resources, stage: Any) -> None:
    res.stages = tuple(stage if s.name == stage.name else s for s in res.stages)


def test_a_batch_is_claimed_at_once_and_filed_in_few_commits(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    res = build_resources(make_config())
    ids = stored(res, [f"Signalement {i}" for i in range(12)])
    monkeypatch.setattr(process, "FILE_BATCH_SECONDS", 3600.0)  # bounded by the count alone, whatever the load
    commits = []
    event.listen(res.engine, "commit", lambda conn: commits.append(1))

    outcomes = process.process_batch(res, ids, worker="test")

    assert [o.status for o in outcomes] == ["processed"] * 12
    assert len({o.tracking_number for o in outcomes}) == 12
    # One claim, then 12 messages filed 10 + 2 (it was two commits per message: claim and filing).
    assert len(commits) == 1 + 2
    assert count(res, Report) == 12 and count(res, ReportMessage) == 12
    assert sum(1 for o in outcomes for _ in o.outbox_ids) == count(res, Outbox) == 12
    assert process.process_batch(res, ids, worker="test") == [process.Outcome(i, "skipped") for i in ids]


def test_a_message_failing_in_a_batch_is_parked_alone(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    res = build_resources(make_config())
    with_stage(res, BreaksOnPoison())
    ids = stored(res, ["Trou rue A", "poison", "Tag rue B", "Banc cassé"])
    monkeypatch.setattr(process, "FILE_BATCH_SECONDS", 3600.0)  # all four in one transaction

    outcomes = process.process_batch(res, ids, worker="test")

    assert [o.status for o in outcomes] == ["processed", "failed", "processed", "processed"]
    found = rows(res)
    assert found[ids[1]] == ("failed", "RuntimeError: panne simulée")
    assert count(res, Report) == 3 and count(res, ReportMessage) == 3  # its savepoint took its rows back
    with res.factory() as s:
        filed = set(s.execute(select(ReportMessage.raw_message_id)).scalars())
    assert filed == {ids[0], ids[2], ids[3]}


def test_a_message_killing_the_batch_reader_is_parked_alone(make_config: Callable[..., Config]) -> None:
    res = build_resources(make_config())
    with_stage(res, KillsTheReader())
    ids = stored(res, ["Trou rue A", "hostile", "Tag rue B"])

    outcomes = process.process_batch(res, ids, worker="test")

    assert [o.status for o in outcomes] == ["processed", "failed", "processed"]
    # The child died on it: parked with a French reason, and a new child read the message after it.
    assert outcomes[1].error == "l'analyse s'est arrêtée sans résultat (mémoire dépassée ?)"
    assert rows(res)[ids[1]][0] == "failed" and count(res, Report) == 2
