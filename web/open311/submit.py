"""Open311 POST requests.<fmt>: a citizen's request from an app, checked, stored verbatim, then queued."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import uuid
from datetime import timedelta
from typing import IO, Any

from flask import Response, current_app, request
from werkzeug.formparser import FormDataParser, default_stream_factory

from intake.backoffice import ratelimit
from intake.backoffice.open311 import repeated_request
from intake.email.recipient import single_address
from intake.models import utcnow
from intake.pipeline.rawstore import store_raw
from web.open311.blueprint import bp, cfg, check_jurisdiction, factory, labels, log
from web.open311.formats import Fail, check_format, render

FIELDS = (
    "service_code",
    "lat",
    "long",
    "address_string",
    "address_id",
    "description",
    "media_url",
    "email",
    "phone",
    "first_name",
    "last_name",
    "device_id",
    "account_id",
)
# Image types by their first bytes: what the client declares is not trusted.
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"avif")
DECLARED = frozenset(
    {
        "image/jpeg",
        "image/jpg",
        "image/pjpeg",
        "image/png",
        "image/webp",
        "image/heic",
        "image/heif",
        "image/avif",
        "application/octet-stream",
        "",
    }
)
DUPLICATE_WINDOW = timedelta(hours=24)
RATE_WINDOW = timedelta(minutes=1)
NOTICE = (
    "Signalement reçu : son numéro de suivi sera donné par tokens/{token} dès son enregistrement. / "
    "Request received: tokens/{token} will give its service_request_id once it is filed."
)


def _api_key_name(given: str | None) -> str:
    """The configured name of the api_key; compared in constant time so keys cannot be guessed by timing."""
    if given:
        for entry in cfg().open311.api_keys:
            secret = entry.key.reveal()
            if secret and hmac.compare_digest(secret.encode(), given.encode()):
                return entry.name
    raise Fail(403, "api_key absente ou invalide / missing or invalid api_key")


def _coordinate(value: str | None, name: str, bound: float) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.replace(",", "."))  # "48,85" from a French keyboard
    except ValueError:
        raise Fail(400, f"{name} : nombre décimal attendu (48.8566) / {name} must be a number") from None
    if not math.isfinite(number) or not -bound <= number <= bound:
        raise Fail(400, f"{name} hors limites (-{bound:g} à {bound:g}) / {name} out of range")
    return number


def _fields(form: Any) -> dict[str, str]:
    fields = {}
    for key in FIELDS:
        value = form.get(key)
        if isinstance(value, (dict, list)):
            raise Fail(400, f"{key} : texte attendu / {key} must be a string")
        if value is not None and str(value).strip():
            fields[key] = str(value).strip()
    return fields


def validated(form: Any) -> dict[str, str]:
    """The request's fields, checked; raise Fail with the reason when one is wrong."""
    limits = cfg().open311
    fields = _fields(form)
    code = fields.get("service_code")
    if not code:
        raise Fail(400, "service_code manquant / service_code is required")
    if code not in labels():
        raise Fail(400, f"service_code inconnu : {code[:40]} (voir services.json) / unknown service_code")
    lat = _coordinate(fields.get("lat"), "lat", 90)
    lon = _coordinate(fields.get("long"), "long", 180)
    if (lat is None) != (lon is None):
        raise Fail(400, "lat et long vont ensemble / lat and long must both be given")
    if lat is not None and lon is not None:
        fields["lat"], fields["long"] = repr(lat), repr(lon)
    elif not fields.get("address_string") and not fields.get("address_id"):
        raise Fail(
            400, "localisation manquante : lat/long ou address_string / location required (lat/long or address_string)"
        )
    if len(fields.get("description", "")) > limits.max_description:
        raise Fail(400, f"description trop longue (maximum {limits.max_description} caractères) / description too long")
    if "email" in fields:
        email = single_address(fields["email"])
        if email is None:
            raise Fail(
                400,
                "email invalide : une seule adresse, de la forme nom@domaine.fr / email must be "
                "exactly one valid address",
            )
        fields["email"] = email
    if "media_url" in fields and not fields["media_url"].lower().startswith(("https://", "http://")):
        raise Fail(400, "media_url : adresse http(s) attendue / media_url must be an http(s) URL")
    for key in (
        "address_string",
        "address_id",
        "media_url",
        "phone",
        "first_name",
        "last_name",
        "device_id",
        "account_id",
    ):
        if len(fields.get(key, "")) > 500:
            raise Fail(400, f"{key} trop long (500 caractères au plus) / {key} too long")
    return fields


def _image_type(data: bytes) -> str | None:
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "image/avif" if data[8:12] == b"avif" else "image/heic"
    return None


def _upload(files: Any, limit: int) -> dict[str, str] | None:
    """The photo of the multipart field `media`, read up to `limit` bytes and recognised by its content."""
    media = files.get("media")
    if media is None or not media.filename:
        return None
    declared = (media.mimetype or "").lower()
    if declared not in DECLARED:
        raise Fail(
            400,
            f"type de fichier non accepté ({declared[:40]}) : photo JPEG, PNG, WebP ou HEIC / unsupported media type",
        )
    data = media.stream.read(limit + 1)
    if len(data) > limit:
        raise Fail(413, f"photo trop volumineuse (maximum {limit / 1_000_000:g} Mo) / media too large")
    kind = _image_type(data)
    if kind is None:
        raise Fail(
            400, "type de fichier non reconnu : photo JPEG, PNG, WebP ou HEIC attendue / media is not a supported image"
        )
    return {"filename": media.filename[:200], "content_type": kind, "data": base64.b64encode(data).decode("ascii")}


def _multipart(limit: int, opened: list[IO[bytes]]) -> tuple[Any, Any]:
    """Parse a multipart body strictly: a malformed one is a 400, and every spooled file lands in `opened`."""

    def spool(
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        handle = default_stream_factory(
            total_content_length=total_content_length,
            content_type=content_type,
            filename=filename,
            content_length=content_length,
        )
        opened.append(handle)
        return handle

    parser = FormDataParser(
        stream_factory=spool,
        max_form_memory_size=request.max_form_memory_size,
        max_content_length=limit,
        silent=False,
        max_form_parts=request.max_form_parts,
    )
    try:
        _, form, files = parser.parse(request.stream, request.mimetype, request.content_length, request.mimetype_params)
    except ValueError:  # werkzeug's "Missing boundary", "Unexpected end of form"...
        raise Fail(400, "corps multipart illisible (tronqué ou sans boundary) / malformed multipart body") from None
    return form, files


def _form(limit: int, opened: list[IO[bytes]]) -> tuple[Any, Any]:
    """The posted fields and files: form-urlencoded or multipart as the spec says, or a JSON object."""
    if request.is_json:
        form = request.get_json(silent=True)
        if not isinstance(form, dict):
            raise Fail(400, "corps JSON invalide : un objet est attendu / invalid JSON body")
        return form, {}
    if request.mimetype == "multipart/form-data":
        return _multipart(limit, opened)
    return request.form, {}


def _enqueue(raw_id: int) -> None:
    """Queue processing when Redis is configured; on failure the sweeper re-enqueues pending rows."""
    config = cfg()
    if not config.redis_url:
        return
    try:
        from intake.runtime.queue import enqueue_process, get_queue, redis_connection

        state = current_app.extensions.setdefault("guichet_open311", {})
        if "queue" not in state:
            state["queue"] = get_queue(redis_connection(config))
        enqueue_process(state["queue"], raw_id, timeout=config.worker.job_timeout)
    except Exception:  # the request is committed: the sweeper will pick it up
        log.exception("open311: raw message %s stored but not enqueued", raw_id)


def _already_received(source: str, payload: bytes) -> str | None:
    """The token of the same request from the same app within a day (an app retrying after a lost answer)."""
    digest = hashlib.sha256(payload).hexdigest()
    with factory()() as session:
        return repeated_request(session, source, digest, utcnow() - DUPLICATE_WINDOW)


def _throttle(key: str, limit: int, who: str) -> None:
    """Count one request of `key` in this minute (an atomic counter shared by every worker); 429 past `limit`."""
    with factory()() as session, session.begin():
        count = ratelimit.hit(session, key, window=RATE_WINDOW)
        if count == 1:  # a new window: old counters go (a cheap, indexed delete, at most once a minute per key)
            ratelimit.prune(session, older_than=timedelta(days=1))
    if count > limit:
        raise Fail(
            429,
            f"trop de demandes {who} ({limit} par minute au plus) : réessayez dans une minute / "
            "too many requests, retry in a minute",
        )


@bp.post("/requests.<fmt>")
def create_request(fmt: str) -> tuple[Response, int] | Response:
    """A citizen's request from an app: validate, store verbatim (without the api_key), enqueue, answer a token."""
    fmt = check_format(fmt)
    settings = cfg().open311
    _throttle(
        f"open311:ip:{request.remote_addr or ''}", settings.max_requests_per_address_per_minute, "depuis cette adresse"
    )
    limit = int(settings.max_media_mb * 1_000_000)
    request.max_content_length = limit + 200_000  # werkzeug stops reading beyond it: a 413, not a full disk
    if (request.content_length or 0) > limit + 200_000:
        raise Fail(413, f"requête trop volumineuse (photo de {limit / 1_000_000:g} Mo au plus) / request too large")
    opened: list[IO[bytes]] = []
    try:
        form, files = _form(limit + 200_000, opened)
        check_jurisdiction(str(form.get("jurisdiction_id") or "") or request.args.get("jurisdiction_id"))
        source = _api_key_name(str(form.get("api_key") or "") or None)
        _throttle(f"open311:key:{source}", settings.max_requests_per_key_per_minute, "de cette application")
        fields: dict[str, Any] = validated(form)
        media = _upload(files, limit)
    finally:
        for handle in opened:  # spooled uploads, even of a body that failed half-way
            handle.close()
    if media is not None:
        fields["media_file"] = media
    payload = json.dumps(fields, ensure_ascii=False, sort_keys=True).encode("utf-8")
    earlier = _already_received(source[:80], payload)
    if earlier is not None:
        raise Fail(
            409,
            f"demande déjà reçue, jeton {earlier} (voir tokens/{earlier}) / duplicate request, "
            f"already received as token {earlier}",
        )
    token = uuid.uuid4().hex
    raw_id, created = store_raw(factory(), channel="open311", source=source[:80], external_key=token, payload=payload)
    if created:
        _enqueue(raw_id)
    record = {"token": token, "service_notice": NOTICE.format(token=token), "account_id": None}
    return render([record], fmt, root="service_requests", status=201)
