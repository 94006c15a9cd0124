"""gunicorn's logger class for the web service: every line it writes in Guichet's format, pseudonymised.

`guichet serve` and `guichet up` start gunicorn with `--logger-class intake.runtime.gunicorn_logs.GuichetLogger`.
gunicorn sets up its error log (stderr) and access log (stdout) here, before it loads the app, so this is where
the app's own loggers get their handler too (the root logger: `web`, `intake.*`, Python's warnings). With
GUICHET_LOG_FORMAT=json every line of all three is one JSON object (time, level, logger, message, pid, and the
request's id when there is one); otherwise gunicorn keeps its text lines and the app logs in the text format.
Either way the town's pseudonym filter rewrites e-mail addresses and phone numbers in every line, including the
paths and agents of the access log, and is put back when gunicorn sets its handlers up again (SIGHUP).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from intake.runtime.logs import JsonLines, configure, log_format


class GuichetLogger(Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's Logger with Guichet's formats and pseudonyms (see the module's docstring)."""

    def setup(self, cfg: Any) -> None:
        """gunicorn's handlers, then the root logger's, in the chosen format, each with the pseudonym filter."""
        super().setup(cfg)
        fmt = log_format() or "text"
        configure(fmt)  # the app's loggers: under gunicorn nobody else gives the root logger a handler
        if fmt == "json":
            for log in (self.error_log, self.access_log):
                for handler in log.handlers:
                    handler.setFormatter(JsonLines())
            logging.captureWarnings(True)  # a library's warning is an event too, not a bare line on stderr
        from intake.config import load_config
        from intake.pseudonyms import install_log_pseudonyms

        install_log_pseudonyms(load_config(), "gunicorn.error", "gunicorn.access")

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """One request served: gunicorn's line in text mode; in JSON, an event with the request's fields."""
        if log_format() != "json":
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        status = str(resp.status).split(None, 1)[0]
        fields: dict[str, Any] = {
            "remote": environ.get("REMOTE_ADDR"),
            "method": environ.get("REQUEST_METHOD"),
            "path": environ.get("PATH_INFO"),
            "status": int(status) if status.isdigit() else status,
            "bytes": getattr(resp, "sent", None),
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "agent": environ.get("HTTP_USER_AGENT"),
        }
        if environ.get("QUERY_STRING"):
            fields["query"] = environ["QUERY_STRING"]
        request_id = next(
            (value for name, value in getattr(resp, "headers", None) or () if str(name).lower() == "x-request-id"), None
        )
        query = f"?{fields['query']}" if "query" in fields else ""
        try:
            self.access_log.info(
                "%s %s%s %s",
                fields["method"],
                fields["path"],
                query,
                status,
                extra={"fields": fields, "request_id": request_id},
            )
        except Exception:
            self.exception("access log line not written")
