"""Opening an authenticated IMAP session: TLS context, login or XOAUTH2, errors that name the mailbox."""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

if TYPE_CHECKING:
    from intake.channels.imap import ImapSettings

log = logging.getLogger(__name__)


class ImapError(Exception):
    """An IMAP mailbox could not be reached, logged into or read; the message is safe to show."""


def describe(settings: ImapSettings) -> str:
    """Short bilingual-neutral label of a mailbox for messages: « mairie » (imap.example.fr:993)."""
    return f"« {settings.name} » ({settings.host}:{settings.port}, {settings.username})"


def _scrub(text: str, settings: ImapSettings) -> str:
    """Server text for a message, minus imaplib's b'...' wrapping and any echoed secret."""
    text = re.sub(r"""^b(['"])(.*)\1$""", r"\2", text.strip())
    for secret in (settings.password, settings.oauth2_token):
        if secret:
            text = text.replace(secret, "***")
    return text


def imap_error(settings: ImapSettings, french: str, english: str, exc: BaseException | None) -> ImapError:
    """Build an ImapError reading "French — English (detail)" for the given mailbox."""
    label = describe(settings)
    detail = f" ({_scrub(str(exc), settings)})" if exc is not None and str(exc) else ""
    return ImapError(f"Boîte {label} : {french} — Mailbox {label}: {english}{detail}")


@contextmanager
def translate_errors(settings: ImapSettings, french: str, english: str) -> Iterator[None]:
    """Turn socket, TLS and protocol failures inside the block into an ImapError."""
    try:
        yield
    except ImapError:
        raise
    except (IMAPClientError, OSError) as exc:  # ssl.SSLError and socket.timeout are OSErrors
        raise imap_error(settings, french, english, exc) from exc


def ssl_context(settings: ImapSettings) -> ssl.SSLContext:
    """TLS context honouring ssl_verify and ca_file (a private CA or a self-signed server)."""
    context = ssl.create_default_context(cafile=settings.ca_file)
    if not settings.ssl_verify:
        # Only for servers with a broken certificate the town cannot fix; logged every time.
        log.warning("IMAP %s: TLS certificate verification disabled", settings.name)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def xoauth2_mechanism(user: str, token: str) -> Callable[[bytes], bytes]:
    """SASL XOAUTH2 client: the bearer string first, then an empty line to any error challenge.

    On failure Microsoft 365 and Gmail send a base64 JSON challenge and expect an empty response
    before answering NO; re-sending the token there (as imapclient's oauth2_login does) is wrong.
    """
    answered = False

    def respond(challenge: bytes) -> bytes:
        nonlocal answered
        if answered:
            return b""
        answered = True
        return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()

    return respond


def _login(client: IMAPClient, settings: ImapSettings) -> None:
    if settings.oauth2_token:
        client.sasl_login("XOAUTH2", xoauth2_mechanism(settings.username, settings.oauth2_token))
    elif settings.password is None:
        raise imap_error(
            settings, "ni mot de passe ni jeton OAuth2 configuré", "neither password nor OAuth2 token configured", None
        )
    elif settings.password.isascii():
        client.login(settings.username, settings.password)
    else:
        # LOGIN goes through imaplib's ASCII-only encoder; AUTHENTICATE PLAIN carries UTF-8.
        client.plain_login(settings.username, settings.password)


def connect(settings: ImapSettings) -> IMAPClient:
    """Connect (TLS or STARTTLS as configured) and log in; raise ImapError on any failure."""
    context = ssl_context(settings) if (settings.tls or settings.starttls) else None
    try:
        client = IMAPClient(
            settings.host, port=settings.port, ssl=settings.tls, ssl_context=context, timeout=settings.timeout
        )
    except ssl.SSLError as exc:
        raise imap_error(
            settings, "échec de la négociation TLS (certificat ?)", "TLS handshake failed (certificate?)", exc
        ) from exc
    except OSError as exc:
        raise imap_error(settings, "connexion impossible au serveur", "cannot connect to the server", exc) from exc
    try:
        if settings.starttls:
            with translate_errors(settings, "échec de STARTTLS", "STARTTLS failed"):
                client.starttls(context)
        try:
            _login(client, settings)
        except LoginError as exc:
            raise imap_error(
                settings,
                "identification refusée (identifiant, mot de passe ou jeton)",
                "login refused (user name, password or token)",
                exc,
            ) from exc
        except (IMAPClientError, OSError) as exc:
            raise imap_error(settings, "échec de l'identification", "login failed", exc) from exc
    except BaseException:
        close(client)
        raise
    return client


def close(client: IMAPClient) -> None:
    """Log out, or drop the socket when the session is already broken; never raises."""
    try:
        client.logout()
    except Exception:  # a dead session needs no goodbye
        try:
            client.shutdown()
        except Exception:
            log.debug("IMAP socket already closed")
