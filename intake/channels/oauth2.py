"""OAuth2 access tokens for XOAUTH2 (Microsoft 365, Gmail): obtained, cached as a secret, refreshed before expiry.

Both flows speak the token endpoint's standard wire format (RFC 6749: a form POST answered by JSON): client
credentials (§4.4, Microsoft 365's IMAP.AccessAsApp) and refresh token (§6, Gmail or Microsoft 365 delegated).
The token is kept in var/oauth2/<mailbox>.json (mode 0600, like var/secret_key), shared by the workers of the
host under a file lock, and replaced when less than REFRESH_MARGIN seconds of it remain. A provider's refusal
becomes an ImapError carrying the provider's own message, which the health page shows.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from intake.channels.imap_auth import ImapError
from intake.config import Mailbox, OAuth2

REFRESH_MARGIN = 300.0  # seconds: a token with less left is replaced before a poll or an IDLE session uses it
HTTP_TIMEOUT = 20.0
PROVIDER_NAMES = {"microsoft": "Microsoft", "google": "Google", "other": "le fournisseur OAuth2"}
_SCOPES = {
    ("microsoft", "client_credentials"): "https://outlook.office365.com/.default",
    ("microsoft", "refresh_token"): "https://outlook.office365.com/IMAP.AccessAsUser.All offline_access",
    ("google", "refresh_token"): "https://mail.google.com/",
}


class OAuth2Error(ImapError):
    """The provider refused or could not give a token; the message (French, with the provider's) is safe to show."""


def token_url(settings: OAuth2) -> str:
    """The provider's token endpoint (or the configured one)."""
    if settings.token_url:
        return settings.token_url
    if settings.provider == "google":
        return "https://oauth2.googleapis.com/token"
    return f"https://login.microsoftonline.com/{settings.tenant}/oauth2/v2.0/token"


def scope(settings: OAuth2) -> str | None:
    """The scope asked for: configured, else the provider's IMAP scope for the flow."""
    return settings.scope or _SCOPES.get((settings.provider, settings.flow))


def _reveal(mailbox: str, key: str, secret: Any) -> str:
    value = secret.reveal() if secret is not None else None
    if not value:
        raise OAuth2Error(
            f"Boîte « {mailbox} » : secret OAuth2 introuvable (mailboxes[{mailbox}].oauth2.{key} : "
            "variable d'environnement ou fichier vide ou absent)"
        )
    return str(value)


def request_token(name: str, settings: OAuth2, *, refresh_token: str | None = None) -> dict[str, Any]:
    """POST the flow's form to the token endpoint; return its JSON answer or raise OAuth2Error with the
    provider's error code and description (never the secrets sent)."""
    form = {"client_id": settings.client_id}
    if settings.client_secret is not None:
        form["client_secret"] = _reveal(name, "client_secret", settings.client_secret)
    if settings.flow == "client_credentials":
        form["grant_type"] = "client_credentials"
    else:
        form["grant_type"] = "refresh_token"
        form["refresh_token"] = refresh_token or _reveal(name, "refresh_token", settings.refresh_token)
    wanted = scope(settings)
    if wanted:
        form["scope"] = wanted
    who = PROVIDER_NAMES[settings.provider]
    url = token_url(settings)
    try:
        answer = requests.post(url, data=form, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise OAuth2Error(
            f"Boîte « {name} » : serveur de jetons de {who} injoignable ({url}) — {type(exc).__name__}"
        ) from None
    try:
        body = answer.json()
    except ValueError:
        body = {}
    if answer.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
        error = body.get("error") if isinstance(body, dict) else None
        detail = body.get("error_description") if isinstance(body, dict) else None
        said = ": ".join(str(x) for x in (error, detail) if x) or f"HTTP {answer.status_code}"
        for secret in form.values():  # a provider echoing what it was sent must not put a secret on a page
            if len(secret) > 8 and secret in said:
                said = said.replace(secret, "***")
        raise OAuth2Error(f"Boîte « {name} » : jeton OAuth2 refusé par {who} — {said}")
    return body


def _cache_path(cache_dir: Path, name: str) -> Path:
    cache_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return cache_dir / f"{name}.json"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(data, out)
    tmp.replace(path)  # atomic: a reader never sees half a token


def access_token(mb: Mailbox, *, cache_dir: Path, now: Callable[[], float] = time.time) -> str:
    """A valid access token for the mailbox: the cached one while more than REFRESH_MARGIN seconds remain, else
    a new one (one request per host at a time, the others waiting for it under the file lock)."""
    settings = mb.oauth2
    if settings is None:
        raise OAuth2Error(f"Boîte « {mb.name} » : pas de réglage oauth2")
    path = _cache_path(cache_dir, mb.name)
    cached = _read(path)
    if cached.get("client_id") == settings.client_id and float(cached.get("expires_at", 0)) - now() > REFRESH_MARGIN:
        return str(cached["access_token"])
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cached = _read(path)  # another worker may have refreshed it while this one waited
        if (
            cached.get("client_id") == settings.client_id
            and float(cached.get("expires_at", 0)) - now() > REFRESH_MARGIN
        ):
            return str(cached["access_token"])
        # A provider may rotate the refresh token: the last one received wins over the configured one.
        rotated = cached.get("refresh_token") if cached.get("client_id") == settings.client_id else None
        body = request_token(mb.name, settings, refresh_token=rotated)
        try:
            lifetime = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        fresh = {
            "client_id": settings.client_id,
            "access_token": body["access_token"],
            "expires_at": now() + lifetime,
            "refresh_token": body.get("refresh_token") or rotated,
        }
        _write(path, fresh)
        return str(fresh["access_token"])
