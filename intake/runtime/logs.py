"""Logs of Guichet's processes: one line per event on stderr (journald), as text or JSON (GUICHET_LOG_FORMAT)."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The id of the web request being served (web/request_ids.py sets it): every event logged meanwhile carries it.
REQUEST_ID: ContextVar[str | None] = ContextVar("guichet_request_id", default=None)


def log_format() -> str:
    """The format asked for by GUICHET_LOG_FORMAT: "json", "text", or "" (each process keeps its own default)."""
    fmt = (os.environ.get("GUICHET_LOG_FORMAT") or "").strip().lower()
    return fmt if fmt in ("json", "text") else ""


class JsonLines(logging.Formatter):
    """One JSON object per event; a traceback stays inside its event (field `exception`), never on lines of its own."""

    def format(self, record: logging.LogRecord) -> str:
        """The event as a JSON line: time (UTC), level, logger, message, pid, the web request's id when there is
        one (`request_id`), the record's structured `fields` (gunicorn's access log), and the exception if any."""
        event: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            event["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            event.update({k: v for k, v in fields.items() if k not in event})
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already formatted (and pseudonymised) by a filter
            event["exception"] = record.exc_text
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        return json.dumps(event, ensure_ascii=False, default=str)


def configure(fmt: str | None = None, *, level: int = logging.INFO) -> bool:
    """Install the chosen format on the root logger ("json" or "text"; default: GUICHET_LOG_FORMAT); False, and
    nothing changed, when no format is asked for (each process keeps its own default)."""
    fmt = (fmt or log_format()).lower()
    if fmt not in ("json", "text"):
        return False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    return True


def gunicorn_options() -> list[str]:
    """gunicorn's options common to `guichet serve` and `guichet up`: no control socket, and a logger class
    (intake/runtime/gunicorn_logs.py) that writes gunicorn's error and access logs and the app's own loggers in the
    format of GUICHET_LOG_FORMAT, pseudonymised."""
    # gunicorn 27 opens a control socket by default at one path per user (~/.gunicorn/gunicorn.ctl): two instances on
    # a machine take each other's, and stopping it adds up to 4 s to every shutdown. Guichet does not use it.
    return ["--logger-class", "intake.runtime.gunicorn_logs.GuichetLogger", "--no-control-socket"]
