"""Connecting to IMAP: settings validation, clear errors, TLS with a private CA, STARTTLS, XOAUTH2."""

from __future__ import annotations

import base64

import pytest

from intake.channels.imap import ImapError, ImapSettings, poll_mailbox
from intake.channels.imap_auth import xoauth2_mechanism
from tests.channels.conftest import Mailbox
from tests.support.dovecot import DovecotServer, _free_port
from tests.support.memsink import MemorySink


@pytest.mark.parametrize(
    "bad",
    [
        {"after_store": "delete"},
        {"tls": True, "starttls": True},
        {"batch_size": 0},
        {"timeout": 0},
        {"processed_folder": "INBOX"},
    ],
)
def test_settings_are_validated_with_the_mailbox_name(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="'mairie'"):
        ImapSettings(**{"name": "mairie", "host": "imap.example", "username": "u", **bad})  # type: ignore[arg-type]


def test_secrets_stay_out_of_repr() -> None:
    settings = ImapSettings(name="mairie", host="h", username="u", password="hunter2", oauth2_token="tok")
    assert "hunter2" not in repr(settings) and "tok" not in repr(settings)


def test_xoauth2_answers_the_token_then_an_empty_line() -> None:
    mech = xoauth2_mechanism("mairie@ville.example", "ya29.token")
    assert mech(b"") == b"user=mairie@ville.example\x01auth=Bearer ya29.token\x01\x01"
    error = base64.b64encode(b'{"status":"401","schemes":"Bearer","scope":"mail"}')
    assert mech(error) == b""  # RFC 7628: acknowledge the error, never resend the token


@pytest.mark.dovecot
def test_bad_password_names_the_mailbox_but_not_the_password(mailbox: Mailbox) -> None:
    settings = mailbox.settings(password="not-the-password")
    with pytest.raises(ImapError) as caught:
        poll_mailbox(settings, MemorySink())
    text = str(caught.value)
    assert "not-the-password" not in text
    assert "« mairie »" in text and f"{settings.host}:{settings.port}" in text and mailbox.user in text
    assert "identification refusée" in text and "login refused" in text
    assert "AUTHENTICATIONFAILED" in text and "b'" not in text


def test_connection_refused_is_an_imap_error() -> None:
    settings = ImapSettings(
        name="mairie", host="127.0.0.1", port=_free_port(), tls=False, username="u", password="p", timeout=5
    )
    with pytest.raises(ImapError, match="connexion impossible .* cannot connect"):
        poll_mailbox(settings, MemorySink())


@pytest.mark.dovecot
def test_missing_credentials_are_an_imap_error(mailbox: Mailbox) -> None:
    with pytest.raises(ImapError, match="neither password nor OAuth2 token"):
        poll_mailbox(mailbox.settings(password=None), MemorySink())


@pytest.mark.dovecot
def test_unknown_folder_is_an_imap_error(mailbox: Mailbox) -> None:
    with pytest.raises(ImapError, match="'Signalements'"):
        poll_mailbox(mailbox.settings(folder="Signalements"), MemorySink())


@pytest.mark.dovecot
def test_xoauth2_login_against_dovecot(mailbox: Mailbox) -> None:
    mailbox.deliver(1)
    settings = mailbox.settings(password=None, oauth2_token=mailbox.token)
    assert poll_mailbox(settings, MemorySink()).stored == 1

    with pytest.raises(ImapError, match="login refused") as caught:
        poll_mailbox(mailbox.settings(password=None, oauth2_token="expired-token"), MemorySink())
    assert "expired-token" not in str(caught.value)


@pytest.mark.dovecot
def test_non_ascii_password_goes_through_authenticate_plain(dovecot: DovecotServer) -> None:
    name, _password, _token = dovecot.claim_user()
    dovecot.add_user(name, "mot-de-passe-sécurisé")  # waits until Dovecot re-read its passwd-file
    box = Mailbox(dovecot, name, "mot-de-passe-sécurisé", "")
    box.deliver(1)
    assert poll_mailbox(box.settings(), MemorySink()).stored == 1


def _tls_port(server: DovecotServer) -> int:
    if server.tls_port is None or server.ca_file is None:
        pytest.skip("openssl missing: no TLS listener")
    return server.tls_port


@pytest.mark.dovecot
def test_tls_with_the_servers_ca_file(mailbox: Mailbox) -> None:
    port = _tls_port(mailbox.server)
    mailbox.deliver(1)
    settings = mailbox.settings(tls=True, port=port, ca_file=mailbox.server.ca_file)
    assert poll_mailbox(settings, MemorySink()).stored == 1


@pytest.mark.dovecot
def test_tls_refuses_an_unknown_certificate(mailbox: Mailbox) -> None:
    port = _tls_port(mailbox.server)
    with pytest.raises(ImapError, match="TLS") as caught:
        poll_mailbox(mailbox.settings(tls=True, port=port), MemorySink())
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
    # The escape hatch for a town's broken certificate still works (and logs a warning).
    assert poll_mailbox(mailbox.settings(tls=True, port=port, ssl_verify=False), MemorySink()).errors == []


@pytest.mark.dovecot
def test_tls_by_host_name(mailbox: Mailbox) -> None:
    port = _tls_port(mailbox.server)
    # The certificate's subjectAltName lists DNS:localhost as well as IP:127.0.0.1.
    settings = mailbox.settings(tls=True, port=port, ca_file=mailbox.server.ca_file, host="localhost")
    assert poll_mailbox(settings, MemorySink()).errors == []


@pytest.mark.dovecot
def test_starttls_on_the_plain_port(mailbox: Mailbox) -> None:
    _tls_port(mailbox.server)
    mailbox.deliver(1)
    settings = mailbox.settings(starttls=True, ca_file=mailbox.server.ca_file)
    assert poll_mailbox(settings, MemorySink()).stored == 1
    with pytest.raises(ImapError, match="STARTTLS"):
        poll_mailbox(mailbox.settings(starttls=True), MemorySink())
