"""Run one poll or one processing in a child process that dies (os._exit) at a chosen step.

Usage: python -m tests.support.crasher poll MAILBOX STEP N   (die at the N-th time STEP is reached)
       python -m tests.support.crasher process RAW_ID        (die in the middle of the filing transaction)
       python -m tests.support.crasher understood RAW_ID     (die between understanding and filing)
GUICHET_CONFIG names the configuration, as for the real worker.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from intake.config import load_config
from intake.runtime.resources import build_resources


def _die() -> None:
    sys.stdout.flush()
    os._exit(137)  # like SIGKILL: no cleanup, no finally blocks, no commit


def main(argv: list[str]) -> int:
    res = build_resources(load_config())
    if argv[0] == "poll":
        from intake.channels.mailboxes import poll_once

        mailbox, target, nth = argv[1], argv[2], int(argv[3])
        seen = {"n": 0}

        def on_step(step: str, uid: int) -> None:
            if step == target:
                seen["n"] += 1
                if seen["n"] >= nth:
                    _die()

        poll_once(res, mailbox, enqueue=lambda _rid: None, on_step=on_step)
        return 0
    if argv[0] == "process":
        from intake.pipeline.process import process_raw
        from intake.pipeline.stages.media import MediaStage

        def crash(self: Any, ctx: Any) -> None:
            ctx.session.flush()  # the report rows exist in the open transaction, then the process dies
            _die()

        MediaStage.file = crash  # type: ignore[method-assign]
        res.stages = tuple(MediaStage() if s.name == "media" else s for s in res.stages)
        process_raw(res, int(argv[1]), worker="crasher")
        return 0
    if argv[0] == "understood":
        from intake.pipeline import process

        def die_before_filing(res: Any, raw_id: int, reading: Any) -> Any:
            assert reading.inbound is not None and reading.media  # understood, files written, nothing filed
            _die()

        process._file = die_before_filing  # type: ignore[assignment]
        process.process_raw(res, int(argv[1]), worker="crasher")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
