"""`guichet serve` imports, before gunicorn forks, what the views would otherwise import on their first request.

Measured before: the first signed SMS of each gunicorn worker imported redis and rq (0.42-0.47 s on a quiet
machine, 2.6-4.2 s on a loaded one, over the 2 s that tests/test_hostile_isolation.py allows Twilio's answers).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from intake.config import Config
from tests.conftest import ROOT, write_config
from web.warmup import imports_inside_functions, lazy_imports

# Run in a fresh interpreter: the test process has imported everything already. Twilio cannot be reached from
# here: the SMS is signed with the real twilio library's RequestValidator, as Twilio signs it.
FIRST_REQUEST = """
import json, sys, uuid
from urllib.parse import parse_qsl, urlencode
from twilio.request_validator import RequestValidator
from web import create_app

app = create_app()
before = set(sys.modules)
body = urlencode({"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "0" * 32, "From": "+33612000001",
                  "To": "+33900000000", "Body": "Lampadaire en panne rue de Rivoli", "NumMedia": "0"})
base = "https://guichet.example.fr"
signature = RequestValidator("tok-warmup").compute_signature(base + "/twilio/messages", dict(parse_qsl(body)))
reply = app.test_client().post("/twilio/messages", data=body, base_url=base, headers={
    "X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"})
print(json.dumps({"status": reply.status_code, "new": sorted(set(sys.modules) - before)}))
"""


def _first_request_imports(cfg: Config, tmp_path: Path, *, warm_up: bool) -> tuple[int, list[str]]:
    env = {**os.environ, "GUICHET_CONFIG": str(write_config(cfg, tmp_path / "config.yaml")), "TT": "tok-warmup"}
    env.pop("GUICHET_WEB_WARM_UP", None)
    if warm_up:
        env["GUICHET_WEB_WARM_UP"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", FIRST_REQUEST], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return answer["status"], answer["new"]


def _ours(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in {"intake", "web", "classifiers", "redis", "rq"}]


def test_the_first_webhook_after_the_warm_up_imports_nothing_of_ours(
    make_config: Callable[..., Config], redis_url: str, tmp_path: Path
) -> None:
    cfg = make_config(
        redis_url=redis_url,
        twilio={
            "enabled": True,
            "account_sid": "AC" + "0" * 32,
            "auth_token": {"env": "TT"},
            "public_base_url": "https://guichet.example.fr",
            "numbers": ["+33900000000"],
        },
    )
    status, new = _first_request_imports(cfg, tmp_path, warm_up=False)
    assert status == 200
    assert {"redis", "rq"} <= set(new), "without the warm-up the first webhook imports the queue's libraries"
    status, new = _first_request_imports(cfg, tmp_path, warm_up=True)
    assert status == 200
    assert _ours(new) == []


def test_the_lazy_imports_are_read_from_the_views_source() -> None:
    # twilio_hooks enqueues through intake.runtime.queue imported inside _enqueue; the list follows the source.
    assert "intake.runtime.queue" in imports_inside_functions("web.twilio_hooks")
    found = lazy_imports()
    assert {"web.twilio_hooks", "web.open311.submit", "intake.runtime.queue"} <= found
    assert all(not name.startswith(".") for name in found)
