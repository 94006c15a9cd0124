"""Twilio media downloads (S6): credentials go to Twilio only, whatever the URL's tricks or its redirects say.

A local HTTP server plays the attacker's host: it records every request (and its Authorization header) it gets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from intake.channels.phone import fetch_media
from intake.config import Secret, Twilio
from intake.outbox.twilio_client import download_media
from intake.outbox.twilio_errors import MediaRefused
from tests.support.twilio_standin import TwilioStandIn

TOKEN_ENV = "GUICHET_TEST_TWILIO_TOKEN"
MEDIA_PATH = "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages/MM" + "0" * 32 + "/Media/ME" + "1" * 32


class Recorder(ThreadingHTTPServer):
    """An HTTP server on loopback answering a JPEG (or a redirect) and recording who asked what."""

    def __init__(self, *, redirect_to: str | None = None) -> None:
        self.seen: list[tuple[str, str | None]] = []
        self.redirect_to = redirect_to
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                recorder.seen.append((self.path, self.headers.get("Authorization")))
                if recorder.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", recorder.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b"\xff\xd8\xff\xe0" + b"x" * 100
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def attacker() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.stop()


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> Twilio:
    """Settings as a town runs them: no stand-in, so media URLs are fetched where they point."""
    monkeypatch.setenv(TOKEN_ENV, "the-real-auth-token")
    return Twilio(account_sid="AC" + "0" * 32, auth_token=Secret(env=TOKEN_ENV), numbers=["+33757000001"])


@pytest.mark.parametrize(
    "template",
    [
        "{base}\\@api.twilio.com" + MEDIA_PATH,  # the review's bypass: urllib and urllib3 disagree on the host
        "{base}/\\@api.twilio.com" + MEDIA_PATH,
        "http://user@{host}@api.twilio.com" + MEDIA_PATH,
        "{base}" + MEDIA_PATH,  # plainly elsewhere
        "http://api.twilio.com" + MEDIA_PATH,  # Twilio, but not over https
        "https://api.twilio.com:{port}" + MEDIA_PATH,  # Twilio's name, another port
        "https://api.twilio.com.evil.example" + MEDIA_PATH,
        " {base}" + MEDIA_PATH,
    ],
)
def test_media_urls_that_are_not_twilio_are_refused_without_a_request(
    template: str,
    production: Twilio,
    attacker: Recorder,
) -> None:
    host, port = attacker.server_address[0], attacker.server_address[1]
    url = template.format(base=attacker.url, host=f"{host}:{port}", port=port)
    with pytest.raises(MediaRefused, match="média refusé"):
        fetch_media(production, url)
    assert attacker.seen == []  # never contacted, so never given the account's credentials


def test_a_redirect_off_twilio_is_not_followed(
    standin: TwilioStandIn, monkeypatch: pytest.MonkeyPatch, attacker: Recorder
) -> None:
    # The "Twilio" here redirects its media to a host that is not Twilio's media CDN.
    redirector = Recorder(redirect_to=attacker.url + "/loot")
    try:
        monkeypatch.setenv(TOKEN_ENV, standin.auth_token)
        settings = Twilio(
            account_sid=standin.account_sid,
            auth_token=Secret(env=TOKEN_ENV),
            numbers=["+33757000001"],
            api_base_url=redirector.url,
        )
        with pytest.raises(MediaRefused, match="redirection"):
            download_media(settings, "https://api.twilio.com" + MEDIA_PATH)
        assert len(redirector.seen) == 1 and redirector.seen[0][1] is not None  # the stand-in got the credentials
    finally:
        redirector.stop()
    assert attacker.seen == []


def test_twilio_media_with_its_redirect_still_download(standin: TwilioStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, standin.auth_token)
    settings = Twilio(
        account_sid=standin.account_sid,
        auth_token=Secret(env=TOKEN_ENV),
        numbers=["+33757000001"],
        api_base_url=standin.base_url,
    )
    sid = standin.add_inbound(
        "+33612345678", "+33757000001", "photo", media=[(b"\xff\xd8\xff" + b"y" * 50, "image/jpeg")]
    )
    media_sid = standin.messages[sid].media[0].sid
    url = f"https://api.twilio.com/2010-04-01/Accounts/{standin.account_sid}/Messages/{sid}/Media/{media_sid}"
    assert download_media(settings, url) == (b"\xff\xd8\xff" + b"y" * 50, "image/jpeg")
    assert any(path == f"/_cdn/{media_sid}" for _, path in standin.requests)
