"""A private, throw-away Dovecot IMAP server for tests (root only, 127.0.0.1, its own dirs and ports)."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient
from imapclient.imap_utf7 import encode as utf7_encode

DOVECOT_BIN = "/usr/sbin/dovecot"
HOST = "127.0.0.1"
_instances = itertools.count(1)
# Post-login capability list of this Dovecot build, probed once per process (see _probe_capabilities).
_default_capabilities: dict[str, tuple[str, ...]] = {}

# Dovecot 2.3 configuration, filled in with str.format (hence the doubled braces).
CONFIG_TEMPLATE = Path(__file__).with_name("dovecot-2.3.conf")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def dovecot_version(binary: str = DOVECOT_BIN) -> tuple[int, int]:
    """(major, minor) of the installed Dovecot, e.g. (2, 3) for Debian 12's 2.3.19.1."""
    text = subprocess.run([binary, "--version"], check=True, capture_output=True, text=True).stdout
    major, minor = text.split()[0].split(".")[:2]
    return int(major), int(minor)


def _make_certificate(directory: Path) -> tuple[Path, Path] | None:
    """Self-signed certificate for localhost/127.0.0.1, or None when openssl is missing."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class DovecotServer:
    """One Dovecot instance with its own config, maildirs, log and ports; users can be added live."""

    def __init__(
        self,
        *,
        tls: bool = True,
        without_capabilities: Iterable[str] = (),
        binary: str = DOVECOT_BIN,
        startup_timeout: float = 15.0,
        spare_users: int = 100,
    ) -> None:
        self.binary = binary
        self.without_capabilities = tuple(c.upper() for c in without_capabilities)
        self.host = HOST
        self.port = 0
        self.tls_port: int | None = None
        self.ca_file: str | None = None
        self._want_tls = tls
        self._startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._users: dict[str, tuple[str, str | None]] = {}
        # Dovecot re-reads a passwd-file at most once a second, so users made on the fly cannot log
        # in at once: tests claim pre-made ones instead (each with a password and an OAuth2 token).
        self._spare = [f"user{i:03d}" for i in range(spare_users)]
        for name in self._spare:
            self._users[name] = (uuid.uuid4().hex, "tok-" + uuid.uuid4().hex)
        # dovecot's own user owns the maildirs: any non-root uid works, this one always exists.
        account = pwd.getpwnam("dovecot")
        self._uid, self._gid = account.pw_uid, account.pw_gid
        self.root = Path(tempfile.mkdtemp(prefix="guichet-dovecot-"))
        self.root.chmod(0o755)  # auth and mail processes run unprivileged and must traverse it

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> DovecotServer:
        """Start the server (probing the capability list first when some must be hidden)."""
        if os.geteuid() != 0:
            raise RuntimeError("DovecotServer needs root (Dovecot switches to the mail uid)")
        if not os.path.exists(self.binary):
            raise RuntimeError(f"{self.binary} missing: run scripts/ensure-dovecot.sh")
        if dovecot_version(self.binary) >= (2, 4):
            # 2.4 renamed most settings used here (mail_location, passdb args, disable_plaintext_auth
            # -> auth_allow_cleartext) and requires dovecot_config_version: the template needs a twin.
            raise RuntimeError(f"Dovecot {dovecot_version(self.binary)} found: only 2.3 is supported")
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(exist_ok=True)
        os.chown(self.root / "mail", self._uid, self._gid)
        if self._want_tls and self.ca_file is None:
            pair = _make_certificate(self.root)
            self.ca_file = str(pair[0]) if pair else None
        self._write_users()
        capability_line = ""
        if self.without_capabilities:
            kept = [c for c in self._probe_capabilities() if c.upper() not in self.without_capabilities]
            capability_line = "imap_capability = " + " ".join(kept)
        for attempt in range(3):  # a free port can be taken between probe and bind: retry
            self.port = _free_port()
            self.tls_port = _free_port() if self.ca_file else None
            self._write_config(capability_line)
            if self._launch():
                return self
            if attempt == 2 or "Address already in use" not in self.log_tail():
                raise RuntimeError(f"dovecot did not start:\n{self.log_tail()}")
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        self._terminate()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _terminate(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def _write_config(self, capability_line: str) -> None:
        ssl_block = "ssl = no"
        if self.ca_file:
            # "yes", not "required": the plain port must keep accepting LOGIN (and offers STARTTLS).
            ssl_block = f"ssl = yes\nssl_cert = <{self.root}/cert.pem\nssl_key = <{self.root}/key.pem"
        text = CONFIG_TEMPLATE.read_text().format(
            root=self.root,
            host=self.host,
            port=self.port,
            tls_port=self.tls_port or 0,
            uid=self._uid,
            gid=self._gid,
            instance=f"guichet-test-{os.getpid()}-{next(_instances)}",
            ssl_block=ssl_block,
            capability_line=capability_line,
        )
        (self.root / "dovecot.conf").write_text(text)

    def _launch(self) -> bool:
        shutil.rmtree(self.root / "run", ignore_errors=True)  # stale sockets would re-enable the penalty
        (self.root / "run").mkdir()
        log = (self.root / "dovecot.stdout").open("ab")
        self._proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return True
            except OSError:
                time.sleep(0.05)
        self._terminate()
        return False

    def _probe_capabilities(self) -> tuple[str, ...]:
        """The unmodified post-login capabilities, from a short-lived twin of this server."""
        if self.binary not in _default_capabilities:
            with DovecotServer(tls=False, binary=self.binary, spare_users=1) as probe:
                with probe.client("user000") as client:
                    caps = client.capabilities()
                _default_capabilities[self.binary] = tuple(c.decode() for c in caps)
        return _default_capabilities[self.binary]

    def log_tail(self, lines: int = 40) -> str:
        """The end of Dovecot's logs, for failure messages."""
        text = ""
        for name in ("dovecot.stdout", "dovecot.log"):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- users -----------------------------------------------------------------------------
    def claim_user(self) -> tuple[str, str, str]:
        """A never-used user: (name, password, oauth2 token); isolation without cleaning up."""
        if not self._spare:
            name = f"extra{uuid.uuid4().hex[:8]}"
            self.add_user(name, uuid.uuid4().hex, token="tok-" + uuid.uuid4().hex)
            self._spare.append(name)
        name = self._spare.pop(0)
        password, token = self._users[name]
        return name, password, token or ""

    def add_user(self, name: str, password: str, *, token: str | None = None) -> None:
        """Create (or update) a user, waiting until Dovecot has re-read its passwd-file (and its tokens file:
        the new bearer token is accepted)."""
        self._users[name] = (password, token)
        if self._proc is None:
            return
        self._write_users()
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.client(name):
                    pass
                if token:
                    self._token_login(name, token)
                return
            except IMAPClient.Error:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)

    def _token_login(self, user: str, token: str) -> None:
        """Sign in once with XOAUTH2 (raises IMAPClient.Error when the token is refused)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        try:
            client.oauth2_login(user, token)
        finally:
            try:
                client.logout()
            except Exception:  # refused or already gone: nothing to clean
                client.shutdown()

    def _write_users(self) -> None:
        passwd = "".join(f"{n}:{{PLAIN}}{pw}::::::\n" for n, (pw, _t) in self._users.items())
        tokens = "".join(f"{n}:{{PLAIN}}{t}::::::\n" for n, (_pw, t) in self._users.items() if t)
        for name, text in (("passwd", passwd), ("tokens", tokens)):
            tmp = self.root / f"{name}.tmp"
            tmp.write_text(text, encoding="utf-8")
            tmp.chmod(0o644)
            tmp.replace(self.root / name)  # atomic: auth never reads a half-written file

    def password(self, user: str) -> str:
        """The password a user was created with."""
        return self._users[user][0]

    def token(self, user: str) -> str | None:
        """The OAuth2 bearer token accepted for a user (XOAUTH2/OAUTHBEARER), if any."""
        return self._users[user][1]

    # -- IMAP helpers ----------------------------------------------------------------------
    @contextmanager
    def client(self, user: str) -> Iterator[IMAPClient]:
        """A logged-in plain IMAP connection as `user`, logged out afterwards."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        try:
            password = self.password(user)
            # imaplib sends LOGIN in ASCII only; AUTHENTICATE PLAIN carries UTF-8 passwords.
            (client.login if password.isascii() else client.plain_login)(user, password)
            yield client
        finally:
            try:
                client.logout()
            except Exception:  # connection already gone, nothing to clean
                client.shutdown()

    @property
    def capabilities(self) -> tuple[str, ...]:
        """The post-login capabilities this instance announces."""
        with self.client(next(iter(self._users))) as client:
            return tuple(c.decode() for c in client.capabilities())

    def append(self, user: str, raw: bytes, folder: str = "INBOX", *, flags: Iterable[bytes] = ()) -> int:
        """APPEND a message and return its UID (from the APPENDUID response code)."""
        with self.client(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            response = client.append(folder, raw, flags=tuple(flags))
        text = response.decode() if isinstance(response, bytes) else str(response)
        return int(text.split("APPENDUID", 1)[1].split()[1].rstrip("]"))

    def list_uids(self, user: str, folder: str = "INBOX") -> list[int]:
        """UIDs of all messages in a folder ([] when it does not exist)."""
        with self.client(user) as client:
            if not client.folder_exists(folder):
                return []
            client.select_folder(folder, readonly=True)
            return sorted(client.search("ALL"))

    def folder_count(self, user: str, folder: str = "INBOX") -> int:
        """Number of messages in a folder (0 when it does not exist)."""
        return len(self.list_uids(user, folder))

    def flags(self, user: str, folder: str = "INBOX") -> dict[int, set[bytes]]:
        """Flags and keywords of every message of a folder, by UID."""
        with self.client(user) as client:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            return {uid: set(data[b"FLAGS"]) for uid, data in client.fetch(uids, ["FLAGS"]).items()}

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """The folder's current UIDVALIDITY."""
        with self.client(user) as client:
            return int(client.folder_status(folder, ["UIDVALIDITY"])[b"UIDVALIDITY"])

    def reset_uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """Make Dovecot renumber a folder, as after a server migration: new UIDVALIDITY, UIDs from 1.

        Removing the UID list and indexes (keeping the messages and dovecot-keywords) makes Dovecot
        rebuild them, taking the next value from its per-user dovecot-uidvalidity counter.
        """
        before = self.uidvalidity(user, folder)
        home = self.root / "mail" / user
        directory = home if folder.upper() == "INBOX" else home / ("." + utf7_encode(folder).decode())
        for path in [
            directory / "dovecot-uidlist",
            *directory.glob("dovecot.index*"),
            *home.glob("dovecot.list.index*"),
        ]:
            path.unlink(missing_ok=True)
        after = self.uidvalidity(user, folder)
        if after == before:
            raise RuntimeError(f"UIDVALIDITY of {user}/{folder} did not change ({before})")
        return after
