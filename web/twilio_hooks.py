"""Twilio webhooks: signed SMS, delivery statuses, voicemails and their transcripts, stored before answering."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, request
from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import VoiceResponse

from intake.channels.transcribers import transcript_notice
from intake.channels.transcript_poll import SOURCE as TRANSCRIPTS_SOURCE
from intake.config import Config, ConfigError
from intake.outbox.sms import record_status_callback
from intake.outbox.twilio_errors import OPTED_OUT
from intake.pipeline.rawstore import KeyCollision, store_raw
from intake.pipeline.spool import Spooled, spool, spool_folder
from intake.runtime.db import DatabaseError

log = logging.getLogger(__name__)
bp = Blueprint("twilio_hooks", __name__, url_prefix="/twilio")

EXTENSION = "guichet_twilio"
UNSUBSCRIBED = str(OPTED_OUT)  # Twilio error: the recipient answered STOP, every further SMS is refused
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
NO_CALLS = "Ce numéro ne prend pas d'appels, envoyez un SMS."

# The signature covers the concatenation of sorted names and values, not their boundaries: a captured request
# can be re-split ("MessageSid=SM…" + "NumMedia=0" → "MessageSid=SM…NumMedia0") into another valid one. So a
# signed body is also checked for shape: only parameters Twilio sends (incoming-message and recording-callback
# documentation, SMS, MMS and WhatsApp), each once, and a SID of Twilio's form. Twilio may add parameters:
# a refusal names the unknown one in the log, to be added here.
MESSAGE_PARAMS = frozenset(
    {
        "MessageSid",
        "SmsSid",
        "SmsMessageSid",
        "AccountSid",
        "MessagingServiceSid",
        "From",
        "To",
        "Body",
        "NumMedia",
        "NumSegments",
        "SmsStatus",
        "ApiVersion",
        "FromCity",
        "FromState",
        "FromZip",
        "FromCountry",
        "ToCity",
        "ToState",
        "ToZip",
        "ToCountry",
        "OptOutType",
        "MessageType",
        "ChannelMetadata",
        "ProfileName",
        "WaId",
        "Forwarded",
        "FrequentlyForwarded",
        "ButtonText",
        "ButtonPayload",
        "Latitude",
        "Longitude",
        "Address",
        "Label",
        "OriginalRepliedMessageSender",
        "OriginalRepliedMessageSid",
        "ReferralBody",
        "ReferralHeadline",
        "ReferralSourceId",
        "ReferralSourceType",
        "ReferralSourceUrl",
        "ReferralMediaId",
        "ReferralMediaContentType",
        "ReferralMediaUrl",
        "ReferralNumMedia",
        "ReferralCtwaClid",
    }
)
RECORDING_PARAMS = frozenset(
    {
        "AccountSid",
        "CallSid",
        "RecordingSid",
        "RecordingUrl",
        "RecordingStatus",
        "RecordingDuration",
        "RecordingChannels",
        "RecordingSource",
        "RecordingStartTime",
        "RecordingTrack",
        "ErrorCode",
        "From",
        "To",
    }
)
_MEDIA_PARAM = re.compile(r"(?:MediaUrl|MediaContentType)[0-9]")  # at most 10 media: 0..9
MESSAGE_SID = re.compile(r"(?:SM|MM)[0-9a-f]{32}")
RECORDING_SID = re.compile(r"RE[0-9a-f]{32}")
TRANSCRIPT_SID = re.compile(r"GT[0-9a-f]{32}")


@dataclass
class _State:
    """Per-application webhook state: the validator and, once needed, the rq queue of this process."""

    config: Config
    validator: RequestValidator
    base_url: str
    queue: Any = field(default=None)


def init_app(app: Flask, config: Config) -> None:
    """Register the webhooks; raise ConfigError when the auth token cannot be read (no unsigned webhook)."""
    token = config.twilio.auth_token.reveal() if config.twilio.auth_token else None
    if not token:
        raise ConfigError(
            "twilio.auth_token: the secret is missing (environment variable or file absent or empty); "
            "webhooks cannot validate X-Twilio-Signature without it"
        )
    base = (config.twilio.public_base_url or "").rstrip("/")
    if not base:  # polling mode (twilio.poll) needs no public URL, hence no webhook
        log.info("twilio: no public_base_url, webhooks not registered (polling mode)")
        return
    app.extensions[EXTENSION] = _State(config=config, validator=RequestValidator(token), base_url=base)
    app.extensions["csrf"].exempt(bp)  # Twilio cannot send a CSRF token; the signature replaces it
    app.register_blueprint(bp)


def signed_url(base_url: str, full_path: str) -> str:
    """The URL Twilio signed: the configured public base plus the path and query exactly as received."""
    return base_url.rstrip("/") + full_path


def is_signed(validator: RequestValidator, url: str, params: Any, signature: str | None) -> bool:
    """True when `signature` is Twilio's HMAC of `url` and `params` under the validator's token."""
    if not signature:
        return False
    return bool(validator.validate(url, params, signature))


def _state() -> _State:
    state: _State = current_app.extensions[EXTENSION]
    return state


def _factory() -> Any:
    return current_app.extensions["guichet"].factory


def _text(body: str, status: int) -> Response:
    return Response(body, status=status, mimetype="text/plain")


def _twiml(body: str) -> Response:
    return Response(body, status=200, content_type="text/xml; charset=utf-8")


@bp.before_request
def _check_signature() -> Response | None:
    # Never rebuild the URL from Host or X-Forwarded-*: a client controls those headers.
    state = _state()
    request.get_data()  # cache the body first: parsing the form alone would consume it before it is stored
    full_path = request.full_path if request.query_string else request.path
    url = signed_url(state.base_url, full_path)
    # A JSON body (Conversational Intelligence) is signed through the URL's bodySHA256 when Twilio adds one;
    # without it the signature covers the URL alone, and the body is only a pointer to what is then fetched.
    params: Any = request.form
    if request.mimetype == "application/json":
        params = request.get_data(as_text=True) if "bodySHA256" in request.args else {}
    if not is_signed(state.validator, url, params, request.headers.get("X-Twilio-Signature")):
        log.warning("twilio webhook refused: bad or missing signature for %s", url)
        return _text("Signature Twilio absente ou invalide.", 403)
    return None


def _enqueue(raw_id: int) -> None:
    """Queue processing when Redis is configured; on failure the sweeper re-enqueues pending rows."""
    state = _state()
    if not state.config.redis_url:
        return
    try:
        if state.queue is None:
            from intake.runtime.queue import get_queue, redis_connection

            state.queue = get_queue(redis_connection(state.config))
        from intake.runtime.queue import enqueue_process

        enqueue_process(state.queue, raw_id, timeout=state.config.worker.job_timeout)
    except Exception:  # Redis down must not lose the message: it is committed, the sweeper will pick it up
        log.exception("twilio webhook: raw message %s stored but not enqueued", raw_id)


def shape_problem(form: Any, allowed: frozenset[str], sid_name: str, sid_form: re.Pattern[str]) -> str | None:
    """Why a signed body cannot be one Twilio sent (French, for the answer), or None when its shape is Twilio's."""
    for name in form:
        values = form.getlist(name)
        if len(values) > 1:
            return f"paramètre {name[:40]} répété : Twilio n'envoie chaque paramètre qu'une fois."
        if name not in allowed and not _MEDIA_PARAM.fullmatch(name):
            return f"paramètre inconnu de Twilio : {name[:40]}."
    sid = form.get(sid_name, "")
    if not sid:
        return f"Paramètre {sid_name} manquant."
    if not sid_form.fullmatch(sid):
        return f"{sid_name} mal formé : {sid[:40]}."
    if sid_name == "MessageSid" and any(form.get(alias, sid) != sid for alias in ("SmsSid", "SmsMessageSid")):
        return "SmsSid et SmsMessageSid diffèrent de MessageSid."
    return None


def _refused(problem: str) -> Response:
    log.warning("twilio webhook refused: %s (parameters: %s)", problem, ", ".join(sorted(request.form))[:500])
    return _text(problem, 400)


def _store(
    channel: str, source: str, key: str, *, payload: bytes | None = None, refuse_other_content: bool = True
) -> Response | None:
    """Persist the urlencoded body as received and enqueue it; a 503 response when the database fails.

    A body whose SID was already stored with other content is refused (409): Twilio sends one message once per
    SID, so that body can only be a replayed request re-split into other parameters.
    """
    try:
        raw_id, created = store_raw(
            _factory(),
            channel=channel,
            source=source[:80],
            external_key=key,
            payload=request.get_data() if payload is None else payload,
            refuse_other_content=refuse_other_content,
        )
    except KeyCollision as exc:
        log.warning(
            "twilio webhook refused: %s %s from %s was stored with other content (raw message %s)",
            channel,
            key,
            source,
            exc.raw_id,
        )
        return _text("Identifiant déjà reçu avec un autre contenu : requête refusée.", 409)
    except DatabaseError:
        # Twilio does not retry SMS webhooks: the message goes to the durable spool, filed by the next sweep.
        body = request.get_data() if payload is None else payload
        try:
            path = spool(spool_folder(_state().config), Spooled(channel, source[:80], key, body))
        except OSError:
            log.critical(
                "twilio webhook: DATABASE FAILURE and spool unwritable, %s %s from %s NOT STORED",
                channel,
                key,
                source,
                exc_info=True,
            )
            return _text("Service momentanément indisponible.", 503)
        log.error(
            "twilio webhook: database failure, %s %s from %s spooled to %s", channel, key, source, path, exc_info=True
        )
        return None
    if created:
        _enqueue(raw_id)
    return None


@bp.post("/messages")
def messages() -> Response:
    """An inbound SMS/MMS: store the raw webhook body, enqueue it, answer an empty TwiML."""
    problem = shape_problem(request.form, MESSAGE_PARAMS, "MessageSid", MESSAGE_SID)
    if problem:
        return _refused(problem)
    failed = _store("sms", request.form.get("To", ""), request.form["MessageSid"])
    return failed or _twiml(EMPTY_TWIML)


@bp.post("/status")
def status() -> Response:
    """A status callback of an SMS we sent: record it; error 21610 means the recipient opted out."""
    sid = request.form.get("MessageSid", "")
    state = request.form.get("MessageStatus", "")
    try:
        with _factory()() as session, session.begin():
            record_status_callback(
                session,
                sid,
                state,
                phone=request.form.get("To", ""),
                opted_out=request.form.get("ErrorCode") == UNSUBSCRIBED,
            )
    except DatabaseError:
        log.exception("twilio status callback for %s (%s) not recorded", sid, state)
    return Response(status=204)


@bp.post("/voice")
def voice() -> Response:
    """An incoming call: play the voicemail greeting and record, or say that calls are not taken."""
    cfg = _state().config.twilio
    answer = VoiceResponse()  # Twilio's TwiML builder escapes the texts and URLs it writes
    if not cfg.voice_enabled:
        answer.say(NO_CALLS, language="fr-FR")
        answer.hangup()
        return _twiml(str(answer))
    # Recording callbacks do not say who called: the caller travels in the (signed) callback URL's query.
    # No transcribe="true": Twilio's recording transcription is English only; French goes through the
    # transcriber of `transcription.engine` once the recording is stored (intake/channels/transcribers.py).
    caller = urlencode({"From": request.form.get("From", ""), "To": request.form.get("To", "")})
    answer.say(cfg.voice_message, language="fr-FR")
    answer.record(
        max_length=int(cfg.voice_max_seconds),
        play_beep=True,
        recording_status_callback=_state().base_url + "/twilio/voice/recording?" + caller,
        recording_status_callback_method="POST",
    )
    return _twiml(str(answer))


@bp.post("/voice/recording")
def voice_recording() -> Response:
    """A finished voicemail recording: store its callback body and enqueue it like an SMS."""
    problem = shape_problem(request.form, RECORDING_PARAMS, "RecordingSid", RECORDING_SID)
    if problem:
        return _refused(problem)
    sid = request.form["RecordingSid"]
    numbers = _state().config.twilio.numbers
    # Recording callbacks carry no From/To: /voice put them in the callback's query string; the stored payload
    # is the body followed by that query, one urlencoded form.
    query = request.query_string
    source = request.form.get("To") or request.args.get("To") or (numbers[0] if numbers else "voice")
    payload = request.get_data() + (b"&" + query if query else b"")
    failed = _store("voice", source, sid, payload=payload)
    return failed or Response(status=204)


@bp.post("/voice/transcript")
def voice_transcript() -> Response:
    """A voicemail's transcript is ready (Conversational Intelligence webhook): store the notice, enqueue it.

    The notice only names the transcript (GT…); processing fetches it from Twilio with the account's
    credentials and files it on its recording's report. Stored once per transcript SID.
    """
    if _state().config.transcription.engine != "twilio":
        return _text("Transcription Twilio non configurée.", 404)
    sid = transcript_notice(request.get_data())
    if not sid or not TRANSCRIPT_SID.fullmatch(sid):
        return _refused(f"transcript_sid absent ou mal formé : {(sid or '')[:40]}.")
    failed = _store("voice", TRANSCRIPTS_SOURCE, sid, refuse_other_content=False)
    return failed or Response(status=204)
