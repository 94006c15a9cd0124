"""A local stand-in for Twilio (api.twilio.com) in tests, following the documented 2010-04-01 wire format."""

from __future__ import annotations

import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

from tests.support.twilio_standin_http import API, handler_class, rfc2822

_GSM = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXT = set("^{}\\[~]|€\f")


def sid(prefix: str) -> str:
    """A Twilio-style SID: two letters and 32 hex digits."""
    return prefix + secrets.token_hex(16)


def num_segments(body: str) -> int:
    """SMS segments: GSM-7 160/153 characters (extension characters count double), else UCS-2 70/67."""
    if all(ch in _GSM or ch in _GSM_EXT for ch in body):
        units, single, multi = sum(2 if ch in _GSM_EXT else 1 for ch in body), 160, 153
    else:
        units, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else -(-units // multi)


@dataclass
class Media:
    """A media file attached to a message."""

    sid: str
    content: bytes
    content_type: str
    date_created: datetime


@dataclass
class Message:
    """A message as Twilio stores it."""

    sid: str
    from_: str
    to: str
    body: str
    direction: str
    status: str
    date_sent: datetime
    media: list[Media] = field(default_factory=list)
    messaging_service_sid: str | None = None


@dataclass
class Sent:
    """One accepted POST …/Messages.json: the form parameters (first value each) and MediaUrl list."""

    params: dict[str, str]
    media_urls: list[str]
    username: str
    message_sid: str


@dataclass
class TranscriptRun:
    """A Conversational Intelligence transcript: queued when created, completed or failed when the test says."""

    sid: str
    service_sid: str
    source_sid: str
    customer_key: str | None
    channel: dict[str, Any]
    date_created: datetime
    status: str = "queued"
    sentences: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Planned:
    """A scripted error answer for the next matching API request."""

    status: int
    code: int | None
    message: str
    method: str | None


class TwilioStandIn:
    """Threaded HTTP server on 127.0.0.1 speaking Twilio's REST wire format for Messages, Media, Recordings."""

    def __init__(
        self, *, account_sid: str | None = None, auth_token: str | None = None, redirect_media: bool = True
    ) -> None:
        self.account_sid = account_sid or sid("AC")
        self.auth_token = auth_token or secrets.token_hex(16)
        self.redirect_media = redirect_media
        self.messages: dict[str, Message] = {}
        self.recordings: dict[str, dict[str, Any]] = {}
        self.transcripts: dict[str, TranscriptRun] = {}
        self.intelligence_service = sid("GA")
        self.sent: list[Sent] = []
        self.requests: list[tuple[str, str]] = []
        self.deleted_media: list[str] = []
        self._planned: deque[Planned] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        """The URL to put in `twilio.api_base_url`."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> TwilioStandIn:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> TwilioStandIn:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def fail_next(
        self, status: int, *, code: int | None = None, message: str | None = None, method: str | None = None
    ) -> None:
        """Answer the next API request (optionally only of `method`) with Twilio's error JSON."""
        default = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}
        self._planned.append(Planned(status, code, message or default.get(status, "Bad Request"), method))

    def add_inbound(
        self,
        from_: str,
        to: str,
        body: str = "",
        *,
        date_sent: datetime | None = None,
        media: list[tuple[bytes, str]] | None = None,
        messaging_service_sid: str | None = None,
    ) -> str:
        """Seed a received message (direction inbound, status received); returns its SM sid."""
        moment = (date_sent or datetime.now(UTC)).replace(microsecond=0)
        message = Message(
            sid("MM" if media else "SM"),
            from_,
            to,
            body,
            "inbound",
            "received",
            moment,
            [Media(sid("ME"), data, ctype, moment) for data, ctype in media or []],
            messaging_service_sid,
        )
        with self._lock:
            self.messages[message.sid] = message
        return message.sid

    def add_recording(self, wav: bytes, *, mp3: bytes | None = None, duration: int = 5) -> str:
        """Seed a voicemail recording; GET …/Recordings/{Sid}(.wav|.mp3) returns its audio."""
        rec_sid = sid("RE")
        self.recordings[rec_sid] = {"wav": wav, "mp3": mp3, "duration": duration, "date": datetime.now(UTC)}
        return rec_sid

    def finish_transcript(
        self, transcript_sid: str, sentences: list[tuple[str, float]] | None = None, *, status: str = "completed"
    ) -> None:
        """Complete (or fail) a transcript with its sentences (text, confidence), as Twilio's engine would."""
        run = self.transcripts[transcript_sid]
        run.status, run.sentences = status, list(sentences or [])

    def create_transcript(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """POST /v2/Transcripts: ServiceSid, Channel (JSON: media_properties.source_sid), CustomerKey."""
        import json

        try:
            channel = json.loads(form.get("Channel", ""))
        except ValueError:
            return 400, {"code": 20001, "message": "Invalid Channel", "status": 400}
        source = str((channel.get("media_properties") or {}).get("source_sid") or "")
        if form.get("ServiceSid") != self.intelligence_service:
            return 404, {"code": 20404, "message": "Service not found", "status": 404}
        if source not in self.recordings:
            return 400, {"code": 20001, "message": "Invalid source_sid", "status": 400}
        run = TranscriptRun(
            sid("GT"),
            self.intelligence_service,
            source,
            form.get("CustomerKey"),
            channel,
            datetime.now(UTC).replace(microsecond=0),
        )
        with self._lock:
            self.transcripts[run.sid] = run
        return 201, self.transcript_json(run)

    def transcript_json(self, run: TranscriptRun) -> dict[str, Any]:
        """A v2 Transcript resource (ISO 8601 dates, links to its subresources)."""
        url = f"https://intelligence.twilio.com/v2/Transcripts/{run.sid}"
        date = run.date_created.isoformat().replace("+00:00", "Z")
        return {
            "account_sid": self.account_sid,
            "service_sid": run.service_sid,
            "sid": run.sid,
            "date_created": date,
            "date_updated": date,
            "status": run.status,
            "channel": run.channel,
            "data_logging": False,
            "language_code": "fr-FR",
            "customer_key": run.customer_key,
            "media_start_time": None,
            "duration": 0,
            "url": url,
            "redaction": False,
            "encryption_credential_sid": None,
            "links": {
                "sentences": url + "/Sentences",
                "media": url + "/Media",
                "operator_results": url + "/OperatorResults",
            },
        }

    def list_transcripts(self, query: dict[str, str], path: str) -> dict[str, Any]:
        """GET /v2/Transcripts: filters ServiceSid and SourceSid; one page."""
        with self._lock:
            runs = [
                r
                for r in self.transcripts.values()
                if (not query.get("SourceSid") or r.source_sid == query["SourceSid"])
                and (not query.get("ServiceSid") or r.service_sid == query["ServiceSid"])
            ]
        return {
            "transcripts": [self.transcript_json(r) for r in runs],
            "meta": {
                "page": 0,
                "page_size": 50,
                "first_page_url": path,
                "previous_page_url": None,
                "url": path,
                "next_page_url": None,
                "key": "transcripts",
            },
        }

    def sentences_json(self, run: TranscriptRun, path: str) -> dict[str, Any]:
        """GET /v2/Transcripts/{sid}/Sentences: one sentence per line of the script, confidence as a string."""
        items = [
            {
                "media_channel": 1,
                "sentence_index": i,
                "start_time": str(i * 2.0),
                "end_time": str(i * 2.0 + 2),
                "transcript": text,
                "sid": sid("GX"),
                "confidence": str(confidence),
                "words": None,
            }
            for i, (text, confidence) in enumerate(run.sentences)
        ]
        return {
            "sentences": items,
            "meta": {
                "page": 0,
                "page_size": 50,
                "first_page_url": path,
                "previous_page_url": None,
                "url": path,
                "next_page_url": None,
                "key": "sentences",
            },
        }

    # --- resources as JSON -------------------------------------------------------------------------------

    def message_json(self, message: Message) -> dict[str, Any]:
        """A Message resource shaped like the API examples."""
        uri = f"{API}{self.account_sid}/Messages/{message.sid}"
        date = rfc2822(message.date_sent)
        return {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": message.body,
            "date_created": date,
            "date_sent": date,
            "date_updated": date,
            "direction": message.direction,
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": str(len(message.media)),
            "num_segments": str(num_segments(message.body)),
            "price": None,
            "price_unit": None,
            "sid": message.sid,
            "status": message.status,
            "to": message.to,
            "uri": uri + ".json",
            "subresource_uris": {"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
        }

    def media_json(self, message: Message, media: Media) -> dict[str, Any]:
        """A Media resource; its `uri` without `.json` is the content URL."""
        date = rfc2822(media.date_created)
        return {
            "account_sid": self.account_sid,
            "content_type": media.content_type,
            "date_created": date,
            "date_updated": date,
            "parent_sid": message.sid,
            "sid": media.sid,
            "uri": f"{API}{self.account_sid}/Messages/{message.sid}/Media/{media.sid}.json",
        }

    def create_message(self, form: dict[str, list[str]], username: str) -> dict[str, Any]:
        """Accept a POST …/Messages.json like Twilio: 201 and a queued outbound Message."""
        params = {key: values[0] for key, values in form.items()}
        message = Message(
            sid("SM"),
            params.get("From", ""),
            params.get("To", ""),
            params.get("Body", ""),
            "outbound-api",
            "queued",
            datetime.now(UTC).replace(microsecond=0),
            messaging_service_sid=params.get("MessagingServiceSid"),
        )
        with self._lock:
            self.messages[message.sid] = message
            self.sent.append(Sent(params, form.get("MediaUrl", []), username, message.sid))
        return self.message_json(message)

    def list_messages(self, query: dict[str, str], path: str) -> dict[str, Any]:
        """GET …/Messages.json: filters To, From, DateSent, DateSent>, DateSent<; newest first; token paging."""
        size = min(int(query.get("PageSize", "50")), 1000)
        page = int(query.get("Page", "0"))
        after, before = _bound(query.get("DateSent>"), start=True), _bound(query.get("DateSent<"), start=False)
        day = query.get("DateSent")
        with self._lock:
            rows = sorted(self.messages.values(), key=lambda m: (m.date_sent, m.sid), reverse=True)
        rows = [
            m
            for m in rows
            if (not query.get("To") or m.to == query["To"])
            and (not query.get("From") or m.from_ == query["From"])
            and (after is None or m.date_sent >= after)
            and (before is None or m.date_sent <= before)
            and (not day or m.date_sent.date().isoformat() == day[:10])
        ]
        token = query.get("PageToken")
        start = next((i + 1 for i, m in enumerate(rows) if "PA" + m.sid[2:] == token), 0) if token else page * size
        chunk = rows[start : start + size]
        base = {k: v for k, v in query.items() if k not in ("Page", "PageToken", "PageSize")}

        def uri(number: int, page_token: str | None = None) -> str:
            extra = {"PageSize": size, "Page": number, **({"PageToken": page_token} if page_token else {})}
            return f"{path}?{urlencode({**base, **extra})}"

        more = start + size < len(rows)
        return {
            "messages": [self.message_json(m) for m in chunk],
            "end": start + len(chunk) - 1 if chunk else 0,
            "first_page_uri": uri(0),
            "next_page_uri": uri(page + 1, "PA" + chunk[-1].sid[2:]) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1) if page else None,
            "start": start,
            "uri": f"{path}?{urlencode(query)}",
        }


def _bound(value: str | None, *, start: bool) -> datetime | None:
    """A DateSent bound: YYYY-MM-DD (whole day) or the library's YYYY-MM-DDTHH:MM:SSZ."""
    if not value:
        return None
    if len(value) == 10:
        day = datetime.fromisoformat(value).replace(tzinfo=UTC)
        return day if start else day + timedelta(days=1) - timedelta(seconds=1)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
