"""The spool keeps what a door received while the database was down, and files it once when it is back."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from intake.config import Config
from intake.models import RawMessage
from intake.pipeline.spool import Spooled, broken, drain, spool, waiting
from intake.runtime.resources import build_resources

BODY = b"MessageSid=SM123&From=%2B33612345678&Body=Trottoir+d%C3%A9fonc%C3%A9"


def test_spooled_messages_are_private_durable_files_filed_once(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    res = build_resources(make_config())
    folder = tmp_path / "spool"
    first = spool(folder, Spooled("sms", "+33900000000", "SM123", BODY))
    spool(folder, Spooled("sms", "+33900000000", "SM123", BODY))  # Twilio's own replay of the same message
    spool(folder, Spooled("sms", "+33900000000", "SM456", b"\xff\x00 bytes kept as they came"))
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700 and stat.S_IMODE(os.stat(first).st_mode) == 0o600
    assert waiting(folder) == 3 and not list(folder.glob(".*.tmp"))
    queued: list[int] = []
    assert drain(folder, res.factory, enqueue=queued.append) == 2
    assert waiting(folder) == 0 and len(queued) == 2
    with res.factory() as s:
        rows = s.execute(select(RawMessage).order_by(RawMessage.external_key)).scalars().all()
        assert [(r.external_key, r.payload) for r in rows] == [
            ("SM123", BODY),
            ("SM456", b"\xff\x00 bytes kept as they came"),
        ]
        assert s.execute(select(func.count()).select_from(RawMessage)).scalar_one() == 2
    assert drain(folder, res.factory) == 0


def test_an_unreadable_file_is_moved_aside_and_counted(make_config: Callable[..., Config], tmp_path: Path) -> None:
    res = build_resources(make_config())
    folder = tmp_path / "spool"
    spool(folder, Spooled("sms", "+33900000000", "SM1", BODY))
    (folder / "tronque.spool").write_bytes(b'{"channel": "sms", "sou')
    assert drain(folder, res.factory) == 1
    assert waiting(folder) == 0 and broken(folder) == 1
