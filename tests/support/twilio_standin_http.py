"""The HTTP side of the Twilio stand-in: authentication, routing, Twilio's error JSON and content answers."""

from __future__ import annotations

import base64
import json
import re
import secrets
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from tests.support.twilio_standin import Message, TwilioStandIn

API = "/2010-04-01/Accounts/"
_ROUTE = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/(?P<rest>.*)$")


def rfc2822(moment: datetime) -> str:
    """Twilio's date format, e.g. 'Thu, 24 Aug 2023 05:01:45 +0000'."""
    return format_datetime(moment.astimezone(UTC))


def _error(status: int, code: int | None, message: str) -> dict[str, Any]:
    return {
        "code": code or status,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code or status}",
        "status": status,
    }


def handler_class(standin: TwilioStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "TwilioStandIn/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def do_DELETE(self) -> None:  # noqa: N802
            self._dispatch("DELETE")

        def _send(
            self, status: int, body: bytes = b"", ctype: str = "application/json", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            if status != 204:
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if status != 204:
                self.wfile.write(body)

        def _json(self, status: int, data: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(data).encode(), headers=headers)

        def _username(self) -> str | None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            ok = user == standin.account_sid and secrets.compare_digest(password, standin.auth_token)
            return user if ok else None

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True) if length else {}
            standin.requests.append((method, self.path))
            if url.path.startswith("/_cdn/"):  # a pre-signed CDN URL: no auth, like Twilio's media redirect
                return self._media_content(url.path.rsplit("/", 1)[-1], redirect=False)
            match = _ROUTE.match(url.path)
            username = self._username()
            if url.path.startswith("/v2/Transcripts"):  # Conversational Intelligence (intelligence.twilio.com)
                if username is None:
                    return self._json(401, _error(401, 20003, "Authenticate"))
                planned = next((p for p in standin._planned if p.method in (None, method)), None)
                if planned is not None:
                    standin._planned.remove(planned)
                    return self._json(planned.status, _error(planned.status, planned.code, planned.message))
                return self._transcripts(method, url.path, {k: v[0] for k, v in parse_qs(url.query).items()}, form)
            if username is None or not match or match["account"] != standin.account_sid:
                return self._json(
                    401,
                    {**_error(401, 20003, "Authenticate"), "detail": "Your AccountSid or AuthToken was incorrect."},
                    {"WWW-Authenticate": 'Basic realm="Twilio API"'},
                )
            planned = next((p for p in standin._planned if p.method in (None, method)), None)
            if planned is not None:
                standin._planned.remove(planned)
                return self._json(planned.status, _error(planned.status, planned.code, planned.message))
            self._route(
                method, match["rest"], url.path, {k: v[0] for k, v in parse_qs(url.query).items()}, form, username
            )

        def _route(
            self, method: str, rest: str, path: str, query: dict[str, str], form: dict[str, list[str]], username: str
        ) -> None:
            parts = rest.split("/")
            if method == "POST" and rest == "Messages.json":
                return self._json(201, standin.create_message(form, username))
            if method == "GET" and rest == "Messages.json":
                return self._json(200, standin.list_messages(query, path))
            if parts[0] == "Messages" and len(parts) >= 2:
                message = standin.messages.get(parts[1].removesuffix(".json"))
                if message is not None:
                    if method == "GET" and len(parts) == 2 and parts[1].endswith(".json"):
                        return self._json(200, standin.message_json(message))
                    if method == "GET" and parts[2:] == ["Media.json"]:
                        items = [standin.media_json(message, m) for m in message.media]
                        return self._json(
                            200,
                            {
                                "media_list": items,
                                "page": 0,
                                "page_size": 50,
                                "start": 0,
                                "end": max(len(items) - 1, 0),
                                "first_page_uri": path,
                                "next_page_uri": None,
                                "previous_page_uri": None,
                                "uri": path,
                            },
                        )
                    if len(parts) == 4 and parts[2] == "Media":
                        return self._media(method, message, parts[3])
            if parts[0] == "Recordings" and len(parts) == 2 and method == "GET":
                return self._recording(parts[1])
            self._json(404, _error(404, 20404, f"The requested resource {path} was not found"))

        def _transcripts(self, method: str, path: str, query: dict[str, str], form: dict[str, list[str]]) -> None:
            parts = path.strip("/").split("/")  # v2, Transcripts[, sid[, Sentences]]
            if method == "POST" and len(parts) == 2:
                status, body = standin.create_transcript({k: v[0] for k, v in form.items()})
                return self._json(status, body)
            if method == "GET" and len(parts) == 2:
                return self._json(200, standin.list_transcripts(query, path))
            transcript = standin.transcripts.get(parts[2]) if len(parts) >= 3 else None
            if transcript is None:
                return self._json(404, _error(404, 20404, f"The requested resource {path} was not found"))
            if method == "GET" and len(parts) == 3:
                return self._json(200, standin.transcript_json(transcript))
            if method == "GET" and parts[3:] == ["Sentences"]:
                return self._json(200, standin.sentences_json(transcript, path))
            self._json(404, _error(404, 20404, f"The requested resource {path} was not found"))

        def _media(self, method: str, message: Message, name: str) -> None:
            media = next((m for m in message.media if m.sid == name.removesuffix(".json")), None)
            if media is None:
                return self._json(404, _error(404, 20404, f"The requested resource {self.path} was not found"))
            if method == "DELETE":
                message.media.remove(media)
                standin.deleted_media.append(media.sid)
                return self._send(204)
            if name.endswith(".json"):
                return self._json(200, standin.media_json(message, media))
            self._media_content(media.sid, redirect=standin.redirect_media)

        def _media_content(self, media_sid: str, *, redirect: bool) -> None:
            media = next((m for msg in list(standin.messages.values()) for m in msg.media if m.sid == media_sid), None)
            if media is None:
                return self._json(404, _error(404, 20404, "not found"))
            if redirect:
                return self._send(307, b"", headers={"Location": f"{standin.base_url}/_cdn/{media.sid}"})
            self._send(200, media.content, media.content_type)

        def _recording(self, name: str) -> None:
            rec_sid, _, ext = name.partition(".")
            rec = standin.recordings.get(rec_sid)
            if rec is None:
                return self._json(404, _error(404, 20404, f"The requested resource {self.path} was not found"))
            if ext == "json":
                return self._json(
                    200,
                    {
                        "account_sid": standin.account_sid,
                        "sid": rec_sid,
                        "status": "completed",
                        "duration": str(rec["duration"]),
                        "date_created": rfc2822(rec["date"]),
                        "uri": f"{API}{standin.account_sid}/Recordings/{rec_sid}.json",
                    },
                )
            if ext == "mp3" and rec["mp3"] is not None:
                return self._send(200, rec["mp3"], "audio/mpeg")
            self._send(200, rec["wav"], "audio/x-wav")

    return Handler
