"""Demo only: a local Dovecot mailbox to drop test mail into, and an SMTP catcher writing .eml files."""

from __future__ import annotations

import hashlib
import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

_CONF = """\
# Demo mailbox of Guichet (written by intake/devmail.py): loopback only, plain IMAP.
base_dir = {run_dir}
state_dir = {root}/state
instance_name = guichet-demo
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = {uid}
last_valid_uid = {uid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/passwd
  default_fields = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


class DemoMailbox:
    """A persistent Dovecot instance under `root` with one user, `mairie`."""

    def __init__(self, root: Path, *, port: int, password: str) -> None:
        self.root, self.port, self.password = root, port, password

    def start(self) -> subprocess.Popen[bytes]:
        """Write the configuration and run Dovecot in the foreground of a child process."""
        account = pwd.getpwnam("dovecot")
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        os.chown(self.root / "mail", account.pw_uid, account.pw_gid)
        (self.root / "passwd").write_text(f"mairie:{{PLAIN}}{self.password}::::::\n")
        (self.root / "passwd").chmod(0o644)
        conf = self.root / "dovecot.conf"
        # Unix socket paths are limited to 108 bytes: Dovecot's runtime sockets go under a short folder.
        run_dir = Path("/tmp") / f"guichet-dovecot-{hashlib.sha256(str(self.root).encode()).hexdigest()[:10]}"
        run_dir.mkdir(mode=0o755, exist_ok=True)
        conf.write_text(
            _CONF.format(root=self.root, run_dir=run_dir, uid=account.pw_uid, gid=account.pw_gid, port=self.port)
        )
        # A session of its own: Ctrl-C reaches `guichet up` alone, which stops its children in order.
        proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", str(conf)], start_new_session=True)
        time.sleep(0.5)
        return proc


def send_to_demo(files: list[str], *, port: int, password: str) -> int:
    """Append .eml files to the demo mailbox's INBOX, as if the citizen had sent them."""
    from imapclient import IMAPClient

    try:
        with IMAPClient("127.0.0.1", port=port, ssl=False, timeout=10) as client:
            client.login("mairie", password)
            for name in files:
                client.append("INBOX", Path(name).read_bytes())
                print(f"déposé : {name}")
    except (OSError, IMAPClient.Error) as exc:
        print(f"guichet : boîte de démo injoignable sur 127.0.0.1:{port} — {exc}", file=sys.stderr)
        return 1
    return 0


def catch(directory: str, port: int) -> None:
    """Run an SMTP server on loopback that writes every message it receives to `directory`."""
    import asyncio

    from aiosmtpd.controller import Controller

    target = Path(directory)

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = target / f"{stamp}-{time.monotonic_ns()}.eml"
            path.write_bytes(envelope.content)  # type: ignore[attr-defined]
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        asyncio.run(asyncio.Event().wait())
    except KeyboardInterrupt:
        pass  # asked to stop: not an error
    finally:
        controller.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["catch"]:
        catch(sys.argv[2], int(sys.argv[3]))
