"""One id per web request: in the X-Request-Id response header and in every log line written while it is served.

Behind the town's proxy (`web.trusted_proxies` > 0) the proxy's own id is kept when it sends a sane one (nginx:
`proxy_set_header X-Request-Id $request_id;`), so that its access log and Guichet's lines can be matched; otherwise,
or from anyone else, a new one is drawn (a client cannot choose what ends up in the logs).
"""

from __future__ import annotations

import re
import uuid
from contextvars import Token

from flask import Flask, Response, g, request

from intake.runtime.logs import REQUEST_ID

HEADER = "X-Request-Id"
_SANE = re.compile(r"[A-Za-z0-9._-]{8,64}")


def init_app(app: Flask) -> None:
    """Register the hooks; call it before any other before_request hook, so that their log lines carry the id."""
    trusted = bool(app.config["GUICHET"].web.trusted_proxies)

    @app.before_request
    def _begin() -> None:
        given = request.headers.get(HEADER, "") if trusted else ""
        g.request_id = given if _SANE.fullmatch(given) else uuid.uuid4().hex
        g.request_id_token = REQUEST_ID.set(g.request_id)

    @app.after_request
    def _header(response: Response) -> Response:
        if "request_id" in g:
            response.headers[HEADER] = g.request_id
        return response

    @app.teardown_request
    def _end(exc: BaseException | None) -> None:
        token: Token[str | None] | None = g.pop("request_id_token", None)
        if token is not None:
            try:
                REQUEST_ID.reset(token)
            except ValueError:  # set in another context (a copied one): forget it there instead
                REQUEST_ID.set(None)
