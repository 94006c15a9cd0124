"""The real Twilio REST client, optionally routed to another API base, plus media download and deletion."""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from intake.config import Twilio
from intake.outbox.twilio_errors import (
    MediaRefused,
    MediaTooLarge,
    TwilioPermanent,
    classify,
    twilio_errors,
)

TWILIO_API = "https://api.twilio.com"
TWILIO_MEDIA_HOSTS = frozenset({"api.twilio.com", "media.twiliocdn.com", "mms.twiliocdn.com"})
MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


class RebasedHttpClient(TwilioHttpClient):  # type: ignore[misc]  # twilio's http client is untyped
    """TwilioHttpClient sending every request to `base_url` instead of *.twilio.com (development and tests)."""

    def __init__(self, base_url: str, *, timeout: float | None = None) -> None:
        super().__init__(timeout=timeout)
        self.base_url = base_url.rstrip("/")
        if self.session is not None:
            self.session.trust_env = False  # a local stand-in must not go through an environment proxy

    def rebase(self, url: str) -> str:
        """The same URL (path, query) on the configured base."""
        return rebase_url(url, self.base_url)

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """TwilioHttpClient.request, on the configured base."""
        return super().request(
            method,
            self.rebase(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def rebase_url(url: str, base_url: str) -> str:
    """Replace scheme and host of `url` with those of `base_url`, prefixing the base's path if any."""
    base = urlsplit(base_url)
    parts = urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, parts.fragment))


def _token(settings: Twilio) -> str:
    token = settings.auth_token.reveal() if settings.auth_token else None
    if not settings.account_sid or not token:
        raise TwilioPermanent("twilio.account_sid / twilio.auth_token : identifiants absents ou secret introuvable")
    return token


def make_client(settings: Twilio, *, timeout: float = 20.0) -> Client:
    """A twilio.rest.Client for the account; requests go to `settings.api_base_url` when it is set."""
    token = _token(settings)
    http_client = (
        RebasedHttpClient(settings.api_base_url, timeout=timeout)
        if settings.api_base_url
        else TwilioHttpClient(timeout=timeout)
    )
    return Client(settings.account_sid, token, http_client=http_client)


def close_client(client: Client) -> None:
    """Close the pooled connections of a client made by make_client."""
    session = getattr(client.http_client, "session", None)
    if session is not None:
        session.close()


def _media_source(source: Client | Twilio) -> tuple[tuple[str, str], str | None, Twilio]:
    if isinstance(source, Twilio):
        return (source.account_sid, _token(source)), source.api_base_url, source
    base = source.http_client.base_url if isinstance(source.http_client, RebasedHttpClient) else None
    return (str(source.username), str(source.password)), base, Twilio()


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of an absolute http(s) URL, or None when parsers could disagree about it.

    urllib's parser and urllib3's (the one requests connects with) read "http://127.0.0.1:80\\@api.twilio.com/"
    differently; a URL with a backslash, user info, spaces or control characters is refused outright, and the
    two parsers must then agree on the host.
    """
    if any(c in url for c in "\\@") or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return None
    try:
        parts, other = urlsplit(url), parse_url(url)
        port = parts.port
    except (ValueError, LocationParseError):
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or host != (other.host or "").lower():
        return None
    return parts.scheme, host, port


def _media_host(origin: tuple[str, str, int | None]) -> bool:
    """Twilio's media hosts, by https only: the API (which redirects) and its media CDN."""
    scheme, host, port = origin
    return scheme == "https" and port in (None, 443) and (host in TWILIO_MEDIA_HOSTS or host.endswith(".twiliocdn.com"))


def _media_url(url: str, base_url: str | None) -> str:
    """The URL to fetch for a media URL Twilio gave: only https on api.twilio.com (rebased on a stand-in)."""
    origin = _origin(url)
    if base_url and origin is not None and origin == _origin(base_url):
        return url  # a URL the configured stand-in gave itself
    if origin is None or origin[1] != "api.twilio.com" or not _media_host(origin):
        # Basic-auth credentials are only ever sent to Twilio (or the configured stand-in).
        shown = origin[1] if origin else url[:80]
        raise MediaRefused(f"média refusé : l'adresse {shown!r} n'est pas celle de Twilio (https://api.twilio.com)")
    return rebase_url(url, base_url) if base_url else url


def _redirect_allowed(location: str, base_url: str | None) -> bool:
    """A redirect may only go to Twilio's media hosts (or back to the configured stand-in)."""
    origin = _origin(location)
    if origin is None:
        return False
    if base_url:
        base = _origin(base_url)
        return base is not None and origin == base
    return _media_host(origin)


def download_media(
    source: Client | Twilio,
    url: str,
    *,
    max_mb: float | None = None,
    types: Sequence[str] | None = None,
    timeout: float = 30.0,
) -> tuple[bytes, str]:
    """Fetch a media URL (MediaUrl0…) with basic auth, following redirects; return (content, content_type).

    The URL must be https on api.twilio.com; the credentials go to it alone, and its redirects are followed
    (without credentials) only to Twilio's media hosts.
    Limits default to `media_max_mb` and `media_types` of the settings (the schema defaults for a Client).
    Raises MediaTooLarge / MediaRefused, TwilioPermanent (401, 404…) or TwilioTransient (429, 5xx, network).
    """
    auth, base_url, settings = _media_source(source)
    limit = int((max_mb if max_mb is not None else settings.media_max_mb) * 1024 * 1024)
    accepted = {t.lower() for t in (types if types is not None else settings.media_types)}
    target = _media_url(url, base_url)
    with requests.Session() as session, twilio_errors():
        session.trust_env = base_url is None
        response = session.get(target, auth=auth, stream=True, timeout=timeout, allow_redirects=False)
        for _hop in range(MAX_REDIRECTS):
            if not response.is_redirect:
                break
            location = urljoin(target, response.headers.get("Location", ""))
            response.close()
            if not _redirect_allowed(location, base_url):
                raise MediaRefused(f"média refusé : redirection vers {location[:80]!r}, hors de Twilio")
            # A pre-signed CDN URL: never the account's credentials.
            target = location
            response = session.get(target, stream=True, timeout=timeout, allow_redirects=False)
        with response:
            if response.is_redirect:
                raise MediaRefused("média refusé : trop de redirections")
            if response.status_code >= 400:
                raise classify(response.status_code, f"téléchargement du média impossible ({response.status_code})")
            content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type not in accepted:
                raise MediaRefused(f"média refusé : type {content_type or 'inconnu'!r} non accepté")
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise _too_large(limit)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_content(_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
    return b"".join(chunks), content_type


def _too_large(limit: int) -> MediaTooLarge:
    return MediaTooLarge(f"média trop volumineux : la limite est de {limit / (1024 * 1024):g} Mo")


def delete_media(client: Client, message_sid: str, media_sid: str) -> bool:
    """Delete a media file from Twilio once stored; False when it was already gone (404)."""
    try:
        with twilio_errors():
            return bool(client.messages(message_sid).media(media_sid).delete())
    except TwilioPermanent as exc:
        if exc.status == 404:
            return False
        raise
