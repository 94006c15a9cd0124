"""OAuth2 for Microsoft 365 and Gmail: tokens from a local token endpoint (the providers' wire format), cached as
secrets, refreshed before expiry, used with Dovecot's XOAUTH2; a refusal shows the provider's message."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from intake.channels.imap import ImapError, poll_mailbox
from intake.channels.mailboxes import imap_settings, poll_once
from intake.channels.oauth2 import REFRESH_MARGIN, OAuth2Error, access_token
from intake.config import Config, Mailbox, parse_config
from intake.models import MailboxState
from intake.runtime.resources import build_resources
from tests.channels.conftest import Mailbox as DovecotBox
from tests.conftest import base_config_data
from tests.support.memsink import MemorySink
from tests.support.oauth2_server import Grant, TokenEndpoint

SECRET = "s3cr3t-client-value"


@pytest.fixture
def endpoint(mailbox: DovecotBox) -> Iterator[TokenEndpoint]:
    grant = Grant(client_id="app-id", client_secret=SECRET, access_token=mailbox.token, refresh_token="rt-1")
    with TokenEndpoint(grant) as server:
        yield server


def _mailbox(box: DovecotBox, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch, **oauth2: Any) -> Mailbox:
    monkeypatch.setenv("GUICHET_TEST_OAUTH2_SECRET", SECRET)
    monkeypatch.setenv("GUICHET_TEST_OAUTH2_REFRESH", "rt-1")
    settings = {
        "provider": "microsoft",
        "flow": "client_credentials",
        "tenant": "ville.fr",
        "client_id": "app-id",
        "client_secret": {"env": "GUICHET_TEST_OAUTH2_SECRET"},
        "token_url": endpoint.url("/ville.fr/oauth2/v2.0/token"),
        **oauth2,
    }
    data = base_config_data()
    data["mailboxes"] = [
        {
            "name": "m365",
            "host": box.server.host,
            "port": box.server.port,
            "tls": False,
            "username": box.user,
            "oauth2": settings,
            "timeout": 10,
        }
    ]
    return parse_config(data).mailboxes[0]


@pytest.mark.dovecot
def test_client_credentials_token_logs_in_with_xoauth2_and_is_kept_as_a_secret(
    mailbox: DovecotBox, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mb = _mailbox(mailbox, endpoint, monkeypatch)
    mailbox.deliver(2)
    settings = imap_settings(mb, var=tmp_path)
    assert poll_mailbox(settings, MemorySink()).stored == 2
    (sent,) = endpoint.grant.requests
    assert sent == {
        "path": "/ville.fr/oauth2/v2.0/token",
        "grant_type": "client_credentials",
        "client_id": "app-id",
        "client_secret": SECRET,
        "scope": "https://outlook.office365.com/.default",
    }
    cache = tmp_path / "oauth2" / "m365.json"
    assert cache.stat().st_mode & 0o777 == 0o600 and (tmp_path / "oauth2").stat().st_mode & 0o777 == 0o700
    assert SECRET not in cache.read_text()
    imap_settings(mb, var=tmp_path)  # still valid: no second request
    assert len(endpoint.grant.requests) == 1


@pytest.mark.dovecot
def test_token_is_refreshed_before_it_expires(
    mailbox: DovecotBox, endpoint: TokenEndpoint, dovecot: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mb = _mailbox(mailbox, endpoint, monkeypatch)
    first = access_token(mb, cache_dir=tmp_path / "oauth2")
    assert first == mailbox.token and len(endpoint.grant.requests) == 1
    # The provider now issues another token, and the server accepts only that one (the old one has expired).
    dovecot.add_user(mailbox.user, mailbox.password, token="tok-renewed")
    endpoint.grant.access_token = "tok-renewed"
    later = time.time() + 3600 - REFRESH_MARGIN + 1  # less than the margin left: replaced before use
    assert access_token(mb, cache_dir=tmp_path / "oauth2", now=lambda: later) == "tok-renewed"
    assert len(endpoint.grant.requests) == 2
    mailbox.deliver(1)
    with pytest.raises(ImapError, match="login refused"):
        poll_mailbox(mailbox.settings(password=None, oauth2_token=first), MemorySink())
    settings = imap_settings(mb, var=tmp_path)  # the renewed token, from the cache
    assert settings.oauth2_token == "tok-renewed" and poll_mailbox(settings, MemorySink()).stored == 1
    assert len(endpoint.grant.requests) == 2


def test_refresh_token_flow_keeps_the_rotated_refresh_token(
    mailbox: DovecotBox, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mb = _mailbox(
        mailbox,
        endpoint,
        monkeypatch,
        provider="google",
        flow="refresh_token",
        tenant=None,
        refresh_token={"env": "GUICHET_TEST_OAUTH2_REFRESH"},
    )
    endpoint.grant.rotate_to = "rt-2"
    endpoint.grant.expires_in = 60  # under the margin: every use asks again
    access_token(mb, cache_dir=tmp_path)
    access_token(mb, cache_dir=tmp_path)
    first, second = endpoint.grant.requests
    assert first["grant_type"] == "refresh_token" and first["refresh_token"] == "rt-1"
    assert first["scope"] == "https://mail.google.com/"
    assert second["refresh_token"] == "rt-2"  # the rotated one, read back from the cache


def test_refusal_names_the_provider_and_its_message_on_the_health_record(
    mailbox: DovecotBox, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch, make_config: Callable[..., Config]
) -> None:
    mb = _mailbox(mailbox, endpoint, monkeypatch)
    monkeypatch.setenv("GUICHET_TEST_OAUTH2_SECRET", "wrong-secret-value")
    cfg = make_config(mailboxes=[mb.model_dump(mode="json", exclude_none=True)])
    res = build_resources(cfg)
    with pytest.raises(OAuth2Error) as caught:
        poll_once(res, "m365")
    message = str(caught.value)
    assert message == (
        "Boîte « m365 » : jeton OAuth2 refusé par Microsoft — invalid_client: AADSTS7000215: "
        "Invalid client secret provided."
    )
    with res.factory() as session:
        state = session.get(MailboxState, "m365")
    assert state is not None and state.last_error == message and "wrong-secret" not in state.last_error


def test_unreachable_endpoint_and_missing_secret_are_french(
    mailbox: DovecotBox, endpoint: TokenEndpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mb = _mailbox(mailbox, endpoint, monkeypatch, token_url="http://127.0.0.1:9/token")
    with pytest.raises(OAuth2Error, match=r"serveur de jetons de Microsoft injoignable \(http://127.0.0.1:9/token\)"):
        access_token(mb, cache_dir=tmp_path)
    mb = _mailbox(mailbox, endpoint, monkeypatch)
    monkeypatch.delenv("GUICHET_TEST_OAUTH2_SECRET")
    with pytest.raises(OAuth2Error, match=r"secret OAuth2 introuvable \(mailboxes\[m365\]\.oauth2\.client_secret"):
        access_token(mb, cache_dir=tmp_path)


@pytest.mark.parametrize(
    "oauth2, expected",
    [
        (
            {"provider": "google", "flow": "client_credentials", "client_id": "x", "client_secret": {"env": "S"}},
            "Gmail n'accepte que refresh_token",
        ),
        ({"provider": "microsoft", "client_id": "x", "client_secret": {"env": "S"}}, "oauth2.tenant : requis"),
        ({"provider": "microsoft", "tenant": "t", "client_id": "x"}, "oauth2.client_secret : requis"),
        ({"provider": "google", "flow": "refresh_token", "client_id": "x"}, "oauth2.refresh_token : requis"),
        ({"provider": "microsoft", "tenant": "t", "client_id": "x", "client_secret": "en clair"}, "client_secret"),
    ],
)
def test_incomplete_oauth2_settings_are_refused_at_load(oauth2: dict[str, Any], expected: str) -> None:
    from intake.config import ConfigError

    data = base_config_data()
    data["mailboxes"][0] = {**data["mailboxes"][0], "password": None, "oauth2": oauth2}
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(")):
        parse_config(data)
