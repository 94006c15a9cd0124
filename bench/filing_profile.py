"""Where processing time goes: SQL statements per message and a cProfile of process_batch, in one process.

Run: .venv/bin/python -m bench.filing_profile [--messages 200] [--batch 50] [--database sqlite|postgresql]
Prints the statements per message by kind (SELECT, INSERT, UPDATE, transactions) and the functions that take
the most cumulative time, so that the largest costs are fixed first.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.intake_bench import _database, _drop  # noqa: E402
from bench.process_bench import messages  # noqa: E402
from intake.config import parse_config  # noqa: E402
from intake.outbox.notify import ConsoleMailer  # noqa: E402
from intake.pipeline import process  # noqa: E402
from intake.pipeline.rawstore import email_key, store_raw  # noqa: E402
from intake.runtime.db import migrate  # noqa: E402
from intake.runtime.resources import build_resources  # noqa: E402


def main() -> int:
    """Store N emails, process them in batches under cProfile while counting SQL statements, print both."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run under cProfile (--no-profile: timings without its overhead)",
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="guichet-profile-"))
    url, created = _database(args.database, tmp)
    try:
        migrate(url)
        data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
        data["addresses"]["reference"] = [str(ROOT / p) for p in data["addresses"]["reference"]]
        data["routing"]["zones_file"] = str(ROOT / data["routing"]["zones_file"])
        data.update(database_url=url, storage={"root": str(tmp / "storage")})
        res = build_resources(parse_config(data, base_dir=str(tmp)), mailer=ConsoleMailer())
        res.understanding()
        ids = [
            store_raw(res.factory, channel="email", source="mairie", external_key=email_key(raw), payload=raw)[0]
            for raw in messages(args.messages)
        ]
        counts: collections.Counter[str] = collections.Counter()
        shapes: collections.Counter[str] = collections.Counter()

        @event.listens_for(res.engine, "before_cursor_execute")
        def _count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            verb = statement.lstrip().split(None, 1)[0].upper()
            counts[verb] += 1
            shapes[" ".join(statement.split())[:110]] += 1

        @event.listens_for(res.engine, "commit")
        def _commit(conn: Any) -> None:
            counts["COMMIT"] += 1

        profiler = cProfile.Profile()
        started = time.perf_counter()
        cpu = os.times()
        if args.profile:
            profiler.enable()
        for i in range(0, len(ids), args.batch):
            outcomes = process.process_batch(res, ids[i : i + args.batch], worker="bench")
            assert all(o.status == "processed" for o in outcomes), outcomes
        profiler.disable()
        elapsed = time.perf_counter() - started
        used = os.times()
        n = args.messages
        print(
            f"database: {args.database}, messages: {n}, batch: {args.batch}: {n / elapsed:.1f} messages/s "
            f"(in process, no IMAP, no Redis; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )
        own = (used.user + used.system - cpu.user - cpu.system) * 1000 / n
        children = (used.children_user + used.children_system - cpu.children_user - cpu.children_system) * 1000 / n
        print(
            f"CPU per message: {own:.1f} ms claiming and filing (this process), {children:.1f} ms understanding "
            "(budgeted children)"
        )
        print("statements per message: " + ", ".join(f"{k} {v / n:.1f}" for k, v in counts.most_common()))
        print("most frequent statements (per message):")
        for shape, count in shapes.most_common(15):
            print(f"  {count / n:5.2f}  {shape}")
        if args.profile:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            print(out.getvalue())
        res.dispose()
        return 0
    finally:
        _drop(created)


if __name__ == "__main__":
    sys.exit(main())
