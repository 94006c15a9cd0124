"""A worker killed between understanding a message and filing it: nothing filed, nothing lost, once on retry."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from intake.config import Config
from intake.models import Attachment, Outbox, RawMessage, Report, utcnow
from intake.pipeline.process import process_raw
from intake.pipeline.rawstore import email_key, store_raw
from intake.runtime.resources import build_resources
from tests.conftest import write_config
from tests.support import crasher
from tests.support.cli import run_in_child
from tests.support.mail import citizen_email, jpeg_with_gps


def count(res: object, model: object) -> int:
    with res.factory() as s:  # type: ignore[attr-defined]
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_killed_after_understanding_files_nothing_then_once(make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg = make_config()
    env = {**os.environ, "GUICHET_CONFIG": str(write_config(cfg, tmp_path / "config.yaml"))}
    res = build_resources(cfg)
    raw = citizen_email(attachments=[("trou.jpg", "image/jpeg", jpeg_with_gps(48.8566, 2.3522))])
    raw_id, _ = store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)
    proc = run_in_child(crasher.main, ["understood", str(raw_id)], env=env, timeout=300)
    assert proc.returncode == 137, proc.stderr
    assert count(res, Report) == 0 and count(res, Outbox) == 0 and count(res, Attachment) == 0
    with res.factory() as s:
        assert s.get(RawMessage, raw_id).status == "processing"  # type: ignore[union-attr]
    assert process_raw(res, raw_id).status == "skipped"  # still claimed by the dead worker
    with res.factory() as s, s.begin():  # its claim has gone stale: the sweeper's case
        s.execute(update(RawMessage).values(claimed_at=utcnow() - timedelta(hours=1)))
    outcome = process_raw(res, raw_id)
    assert outcome.status == "processed" and outcome.created
    assert count(res, Report) == 1 and count(res, Outbox) == 1 and count(res, Attachment) == 1
    assert process_raw(res, raw_id).status == "skipped"  # processed: never twice
    assert count(res, Report) == 1 and count(res, Outbox) == 1
