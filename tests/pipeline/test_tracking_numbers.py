"""Tracking numbers stay unique and without gaps when two workers file side by side, and a report rolled back takes
none (kept from branch speed2, whose numbering at commit was reverted: the tests hold for numbering at creation)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from intake.config import Config
from intake.models import Event, Outbox, Report
from intake.pipeline import process
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import Resources, build_resources
from tests.pipeline.test_batch_filing import BreaksOnPoison, stored, with_stage
from tests.support.mail import citizen_email


def _expected(count: int) -> list[str]:
    year = datetime.now(UTC).year
    return [f"{year}-{n:05d}" for n in range(1, count + 1)]


def _file_in_child(res: Resources, ids: list[int], go: int) -> int:
    """Fork a worker that waits for the go signal (a byte on a pipe), then files `ids`; its pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            res.engine.dispose(close=False)
            os.read(go, 1)
            outcomes = process.process_batch(res, ids, worker=f"test:{os.getpid()}")
            code = 0 if all(o.status == "processed" for o in outcomes) else 2
        finally:
            os._exit(code)
    return pid


def _wait_all(pids: list[int], timeout: float) -> list[int]:
    """The exit codes of forked children, killing those still running after `timeout`."""
    codes: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(codes) < len(pids) and time.monotonic() < deadline:
            for pid in pids:
                if pid not in codes:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        codes[pid] = os.waitstatus_to_exitcode(status)
            time.sleep(0.05)
    finally:
        for pid in pids:
            if pid not in codes:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                codes[pid] = -9
    return [codes[pid] for pid in pids]


def test_two_workers_filing_side_by_side_give_unique_numbers_without_gaps(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    res = build_resources(make_config())
    ids = stored(res, [f"Signalement {i} : trottoir abîmé" for i in range(40)])
    monkeypatch.setattr(process, "FILE_BATCH_SECONDS", 3600.0)  # transactions of 10 messages, whatever the load
    go_read, go_write = os.pipe()
    pids = [_file_in_child(res, ids[0::2], go_read), _file_in_child(res, ids[1::2], go_read)]
    os.write(go_write, b"xx")  # both start together
    assert _wait_all(pids, timeout=240) == [0, 0]

    with res.factory() as s:
        numbers = {rid: number for rid, number in s.execute(select(Report.id, Report.tracking_number))}
        confirmations = s.execute(select(Outbox.report_id, Outbox.subject, Outbox.body)).all()
    assert sorted(numbers.values()) == _expected(40)
    assert len(confirmations) == 40
    for report_id, subject, body in confirmations:  # each citizen is told their report's real number
        assert report_id is not None
        assert numbers[report_id] in subject and numbers[report_id] in body


def test_a_report_rolled_back_with_its_message_takes_no_number(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    res = build_resources(make_config())
    with_stage(res, BreaksOnPoison())  # fails after the report, its message and its events were flushed
    ids = stored(res, ["Trou rue A", "poison", "Tag rue B", "Banc cassé"])
    monkeypatch.setattr(process, "FILE_BATCH_SECONDS", 3600.0)  # all four in one transaction

    outcomes = process.process_batch(res, ids, worker="test")

    assert [o.status for o in outcomes] == ["processed", "failed", "processed", "processed"]
    assert [o.tracking_number for o in outcomes] == [*_expected(1), None, *_expected(3)[1:]]
    with res.factory() as s:
        assert sorted(s.execute(select(Report.tracking_number)).scalars()) == _expected(3)

    alone = stored(res, ["Lampadaire éteint rue C"])  # a message alone: its own transaction
    assert [o.tracking_number for o in process.process_batch(res, alone, worker="test")] == [_expected(4)[3]]


def test_a_duplicate_filed_in_the_same_transaction_names_its_main_report_by_its_real_number(
    make_config: Callable[..., Config], monkeypatch: pytest.MonkeyPatch
) -> None:
    res = build_resources(make_config())
    body = "Bonjour, le lampadaire en face du 72 rue des Pyrénées est éteint depuis plusieurs jours. Merci"
    ids = []
    for sender in ("jeanne.martin@example.org", "paul.durand@example.net"):
        raw = citizen_email(sender=sender, subject="Lampadaire éteint", body=body)
        ids.append(
            store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)[0]
        )
    monkeypatch.setattr(process, "FILE_BATCH_SECONDS", 3600.0)  # both in one transaction

    outcomes = process.process_batch(res, ids, worker="test")

    assert [o.tracking_number for o in outcomes] == _expected(2)
    with res.factory() as s:
        links = s.execute(select(Event.detail).where(Event.action == "duplicate_of")).scalars().all()
    # The second report is the first one's duplicate, decided before either had its number.
    assert [(d["duplicate"], d["main"]) for d in links] == [tuple(reversed(_expected(2)))] * 2
