"""A local OAuth2 token endpoint speaking the wire format of Microsoft's identity platform and Google's (RFC 6749:
form POST in, JSON out, `error`/`error_description` on refusal), for tests without the network."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Grant:
    """What the endpoint accepts and answers: the next access token, its lifetime, the valid refresh token."""

    client_id: str
    client_secret: str
    access_token: str
    expires_in: int = 3600
    refresh_token: str | None = None  # accepted refresh token (refresh_token flow)
    rotate_to: str | None = None  # refresh token returned with the next answer (then accepted instead)
    refusal: tuple[int, dict[str, str]] | None = None  # an error answer instead of a token
    requests: list[dict[str, str]] = field(default_factory=list)


class TokenEndpoint:
    """Serve POST <any path> as a token endpoint on 127.0.0.1 in a thread; `url(path)` gives its address."""

    def __init__(self, grant: Grant) -> None:
        self.grant = grant
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                form["path"] = self.path
                status, body = endpoint.answer(form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/token") -> str:
        """The endpoint's URL at `path`."""
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def answer(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The provider's answer to one request (recorded in grant.requests)."""
        g = self.grant
        g.requests.append(form)
        if g.refusal is not None:
            return g.refusal
        if form.get("client_id") != g.client_id or form.get("client_secret") != g.client_secret:
            return 401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.",
            }
        if form.get("grant_type") == "refresh_token":
            if form.get("refresh_token") != g.refresh_token:
                return 400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
        elif form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": g.expires_in,
            "ext_expires_in": g.expires_in,
            "access_token": g.access_token,
        }
        if form.get("grant_type") == "refresh_token" and g.rotate_to:
            body["refresh_token"] = g.refresh_token = g.rotate_to
            g.rotate_to = None
        return 200, body

    def __enter__(self) -> TokenEndpoint:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
