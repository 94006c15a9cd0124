"""A real `guichet worker --burst` whose work horses die (os._exit) in the middle of every message's pipeline.

Usage: GUICHET_CONFIG=... python -m tests.support.crashing_worker
Like a message that crashes the interpreter, exhausts memory or gets the horse killed, every time.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from intake.config import load_config
from intake.pipeline.stages.media import MediaStage


def _die(self: Any, ctx: Any) -> None:
    ctx.session.flush()
    os._exit(137)  # like SIGKILL: no cleanup, no commit


def main() -> int:
    from worker import run_worker

    MediaStage.file = _die  # type: ignore[method-assign]  # in the filing transaction, in the horse
    run_worker(load_config(), burst=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
