"""Processing benchmark: N stored emails understood and filed in one process, without IMAP, Redis or rq.

Run: .venv/bin/python -m bench.process_bench [--messages 400] [--batch 1 20 50] [--database sqlite|postgresql]
Prints messages per second for each batch size (one budgeted child per batch), with and without the child
(limits.isolate), and where the time goes: claiming, reading the rows, understanding, filing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake_bench import _database, _drop  # noqa: E402
from intake.config import parse_config  # noqa: E402
from intake.outbox.notify import ConsoleMailer  # noqa: E402
from intake.pipeline import process  # noqa: E402
from intake.pipeline.rawstore import email_key, store_raw  # noqa: E402
from intake.runtime.db import migrate  # noqa: E402
from intake.runtime.resources import build_resources  # noqa: E402
from tests.support.mail import citizen_email, jpeg_with_gps  # noqa: E402

STREETS = ["rue de Rivoli", "boulevard Voltaire", "rue de la Roquette", "avenue de la République", "rue Oberkampf"]
PROBLEMS = [
    "un lampadaire est éteint",
    "un dépôt sauvage de gravats",
    "un nid de poule dangereux",
    "des tags sur la façade",
    "un banc cassé",
]


def messages(n: int) -> list[bytes]:
    """N distinct citizen emails; one in five with a geotagged photo."""
    photo = jpeg_with_gps(48.8566, 2.3522)
    out = []
    for i in range(n):
        body = f"Bonjour, {PROBLEMS[i % 5]} au {i % 90 + 1} {STREETS[i % 5]}. Merci de faire le nécessaire."
        attachments = [("photo.jpg", "image/jpeg", photo)] if i % 5 == 0 else []
        out.append(
            citizen_email(
                sender=f"citoyen{i}@example.org", subject=f"Signalement {i}", body=body, attachments=attachments
            )
        )
    return out


class Timed:
    """Wall time spent in the phases of process_batch, by wrapping its module functions."""

    def __init__(self) -> None:
        self.spent = {"read": 0.0, "understand": 0.0, "file": 0.0}
        for name, label in (("_snapshots", "read"), ("understand_each", "understand"), ("_settle", "file")):
            setattr(process, name, self._wrap(getattr(process, name), label))

    def _wrap(self, fn: Any, label: str) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[label] += time.perf_counter() - started

        return timed


def run(kind: str, n: int, batch: int, isolate: bool) -> tuple[float, dict[str, float]]:
    """Messages per second and seconds per phase for one configuration, on a fresh database."""
    tmp = Path(tempfile.mkdtemp(prefix="guichet-process-bench-"))
    url, created = _database(kind, tmp)
    try:
        migrate(url)
        data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
        data["addresses"]["reference"] = [str(ROOT / p) for p in data["addresses"]["reference"]]
        data["routing"]["zones_file"] = str(ROOT / data["routing"]["zones_file"])
        data.update(database_url=url, storage={"root": str(tmp / "storage")}, limits={"isolate": isolate})
        res = build_resources(parse_config(data, base_dir=str(tmp)), mailer=ConsoleMailer())
        res.understanding()
        ids = []
        for raw in messages(n):
            raw_id, _ = store_raw(
                res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw
            )
            ids.append(raw_id)
        timed = Timed()
        started = time.perf_counter()
        for i in range(0, len(ids), batch):
            outcomes = process.process_batch(res, ids[i : i + batch], worker="bench")
            assert all(o.status == "processed" for o in outcomes), outcomes
        elapsed = time.perf_counter() - started
        res.dispose()
        spent = dict(timed.spent)
        spent["claim"] = elapsed - sum(spent.values())  # the rest of process_batch: one UPDATE per message
        return n / elapsed, spent
    finally:
        _drop(created)


def main() -> int:
    """Run each configuration once and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 20, 50])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    originals = {name: getattr(process, name) for name in ("_snapshots", "understand_each", "_settle")}
    print(f"database: {args.database}, messages: {args.messages}")
    print(f"{'isolate':>8} {'batch':>6} {'msg/s':>8}   ms per message:  claim   read  understand   file")
    for isolate in (True, False):
        for batch in args.batch:
            rate, spent = run(args.database, args.messages, batch, isolate)
            for name, fn in originals.items():
                setattr(process, name, fn)
            per = {k: v * 1000 / args.messages for k, v in spent.items()}
            print(
                f"{isolate!s:>8} {batch:>6} {rate:>8.1f}   {per['claim']:>22.1f} {per['read']:>6.1f} "
                f"{per['understand']:>11.1f} {per['file']:>6.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
