"""Where processing time goes: SQL statements per message and a cProfile of process_batch, in one process.

Run: .venv/bin/python -m bench.filing_profile [--messages 200] [--batch 50] [--database sqlite|postgresql] [--horses]
Prints the statements per message by kind (SELECT, INSERT, UPDATE, transactions) and the functions that take
the most cumulative time, so that the largest costs are fixed first.
`--horses` runs each batch in a process forked for it, as rq's work horses are (one per job): what a horse
builds lazily (compiled statements, templates, a geocoder's indexes) is built again for every batch, and is
counted; the process warms up first as a worker does (Resources.warm_up). The profile is then the last horse's.
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
from collections.abc import Callable
from multiprocessing import Pipe
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


def _in_horse(
    run: Callable[[list[int]], tuple[dict[str, int], dict[str, int], str]], batch: list[int]
) -> tuple[dict[str, int], dict[str, int], str]:
    """`run(batch)` in a forked process, as rq's work horse runs a job; its result comes back through a pipe."""
    reader, writer = Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            reader.close()
            writer.send(run(batch))
            code = 0
        finally:
            os._exit(code)
    writer.close()
    try:
        result: tuple[dict[str, int], dict[str, int], str] = reader.recv()
    finally:
        reader.close()
        _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError(f"horse ended with status {status}")
    return result


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
    parser.add_argument(
        "--horses",
        action="store_true",
        help="each batch in a freshly forked process, as rq runs a job (after the worker's warm-up)",
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

        profiler = cProfile.Profile()  # across every batch of this process (a horse has its own copy)

        def run(batch: list[int]) -> tuple[dict[str, int], dict[str, int], str]:
            """Process one batch (profiled when asked); the statements it ran and the profile's text so far."""
            counts.clear()
            shapes.clear()
            if args.profile:
                profiler.enable()
            outcomes = process.process_batch(res, batch, worker="bench")
            profiler.disable()
            assert all(o.status == "processed" for o in outcomes), outcomes
            out = io.StringIO()
            if args.profile:
                pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            return dict(counts), dict(shapes), out.getvalue()

        if args.horses:
            res.warm_up()  # what a worker loads before it forks its horses
            res.freeze()
            os.register_at_fork(after_in_child=lambda: res.engine.dispose(close=False))
        total: collections.Counter[str] = collections.Counter()
        total_shapes: collections.Counter[str] = collections.Counter()
        profile_text = ""
        started = time.perf_counter()
        cpu = os.times()
        for i in range(0, len(ids), args.batch):
            batch = ids[i : i + args.batch]
            batch_counts, batch_shapes, profile_text = _in_horse(run, batch) if args.horses else run(batch)
            total.update(batch_counts)
            total_shapes.update(batch_shapes)
        elapsed = time.perf_counter() - started
        used = os.times()
        n = args.messages
        mode = ", a horse per batch" if args.horses else ""
        print(
            f"database: {args.database}, messages: {n}, batch: {args.batch}{mode}"
            f": {n / elapsed:.1f} messages/s (in process, no IMAP, no Redis; load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} cores)"
        )
        own = (used.user + used.system - cpu.user - cpu.system) * 1000 / n
        children = (used.children_user + used.children_system - cpu.children_user - cpu.children_system) * 1000 / n
        if args.horses:
            print(
                f"CPU per message: {children:.1f} ms in the horses (claiming, filing) and their budgeted children "
                f"(understanding), {own:.1f} ms in this process"
            )
        else:
            print(
                f"CPU per message: {own:.1f} ms claiming and filing (this process), {children:.1f} ms understanding "
                "(budgeted children)"
            )
        print("statements per message: " + ", ".join(f"{k} {v / n:.1f}" for k, v in total.most_common()))
        print("most frequent statements (per message):")
        for shape, count in total_shapes.most_common(15):
            print(f"  {count / n:5.2f}  {shape}")
        if args.profile:
            print(("the last horse's profile:\n" if args.horses else "") + profile_text)
        res.dispose()
        return 0
    finally:
        _drop(created)


if __name__ == "__main__":
    sys.exit(main())
