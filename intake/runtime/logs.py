"""Logs of Guichet's processes: one line per event on stderr (journald), as text or JSON (GUICHET_LOG_FORMAT)."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLines(logging.Formatter):
    """One JSON object per event; a traceback stays inside its event (field `exception`), never on lines of its own."""

    def format(self, record: logging.LogRecord) -> str:
        """The event as a JSON line: time (UTC), level, logger, message, pid, and the exception if any."""
        event = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name, "message": record.getMessage(),
                 "pid": record.process}
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False)


def configure(fmt: str | None = None, *, level: int = logging.INFO) -> bool:
    """Install the chosen format on the root logger ("json" or "text"; default: GUICHET_LOG_FORMAT); False, and
    nothing changed, when no format is asked for (each process keeps its own default)."""
    fmt = (fmt or os.environ.get("GUICHET_LOG_FORMAT") or "").lower()
    if fmt not in ("json", "text"):
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    return True


def gunicorn_options(fmt: str | None = None) -> list[str]:
    """gunicorn's access log in the same format (its error log stays gunicorn's one-line text)."""
    fmt = (fmt or os.environ.get("GUICHET_LOG_FORMAT") or "").lower()
    if fmt != "json":
        return []
    fields = {"time": "%(t)s", "level": "INFO", "logger": "gunicorn.access", "remote": "%(h)s", "method": "%(m)s",
              "path": "%(U)s", "status": "%(s)s", "bytes": "%(B)s", "duration_us": "%(D)s", "agent": "%(a)s"}
    return ["--access-logformat", json.dumps(fields)]
