"""Statistics and hotspots over a town-sized history: how long each takes over N reports.

Run: .venv/bin/python -m bench.hotspots_bench [--reports 100000] [--database-url URL] [--no-seed] [--repeat 3]
Drops and recreates the database (SQLite file `var/bench-hot.db` by default; PostgreSQL e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/guichet_bench_hot), migrates it, bulk-inserts N realistic reports
over the last year (bench/seed.py) plus a few planted illegal-dumping spots, then times in-process, as the
pages call them: the statistics (30 and 365 days, all services and one agent's), the hotspots (30 and 365
days) and the bare clustering of every located report at once.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402

from bench.scratch_db import recreate  # noqa: E402
from bench.seed import seed  # noqa: E402
from intake.backoffice.filters import parse_filter  # noqa: E402
from intake.backoffice.hotspots import cluster, find_hotspots  # noqa: E402
from intake.backoffice.stats import Period, compute, period_filter  # noqa: E402
from intake.config import load_config  # noqa: E402
from intake.models import Report  # noqa: E402
from intake.runtime.db import make_engine, make_sessionmaker, migrate  # noqa: E402

DEFAULT_URL = "sqlite:///var/bench-hot.db"
SPOTS = 20  # planted dumping spots in the last 30 days
PER_SPOT = 10


def plant_spots(url: str, now: datetime, rng: random.Random) -> None:
    """SPOTS places with PER_SPOT dumping reports each within 80 m, over the last 30 days."""
    engine = make_engine(url)
    with engine.begin() as conn:
        top = int(conn.execute(select(func.count()).select_from(Report)).scalar_one())
        rows = []
        for s in range(SPOTS):
            lat0, lon0 = 48.83 + rng.uniform(0, 0.06), 2.28 + rng.uniform(0, 0.12)
            for _ in range(PER_SPOT):
                angle, dist = rng.uniform(0, 2 * math.pi), rng.uniform(0, 80)
                lat = lat0 + dist * math.cos(angle) / 110_574
                lon = lon0 + dist * math.sin(angle) / (111_320 * math.cos(math.radians(lat0)))
                created = now - timedelta(days=rng.uniform(0, 29))
                rows.append(
                    {
                        "tracking_number": f"B{top + len(rows):09d}",
                        "public_token": uuid.uuid4().hex,
                        "channel": "open311",
                        "category": "objets_abandonnes",
                        "service": "proprete",
                        "status": "transmis",
                        "category_source": "app",
                        "lat": lat,
                        "lon": lon,
                        "address_voie": f"Rue du Banc d'Essai {s}",
                        "created_at": created,
                        "updated_at": created,
                        "review_reasons": [],
                        "confidence": {},
                        "notes": [],
                    }
                )
        conn.execute(insert(Report), rows)
    engine.dispose()


def timed(label: str, repeat: int, work: Callable[[], Any], describe: Callable[[Any], str]) -> None:
    """Run `work` `repeat` times; print the fastest and median time and what the last run found."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    print(
        f"{label:<46} min {min(times) * 1000:8.0f} ms   median {statistics.median(times) * 1000:8.0f} ms   "
        f"{describe(result)}"
    )


def main(argv: list[str] | None = None) -> int:
    """Seed (unless --no-seed) and time the statistics and hotspots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="dropped and recreated!")
    parser.add_argument("--no-seed", action="store_true", help="reuse the database as it is")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    cfg = load_config()
    now = datetime.now(UTC)
    if not args.no_seed:
        recreate(args.database_url)
        migrate(args.database_url)
        print(seed(args.database_url, args.reports, config=cfg, now=now).line())
        plant_spots(args.database_url, now, random.Random(7))
    engine = make_engine(args.database_url)
    factory = make_sessionmaker(engine)
    today = cfg.town.local(now).date()
    none = parse_filter({}, cfg)
    with factory() as session:
        total = session.execute(select(func.count()).select_from(Report)).scalar_one()
        print(f"{engine.dialect.name}: {total} reports in the database")
        for days in (30, 365):
            period = Period(today - timedelta(days=days - 1), today, preset=days)
            flt = period_filter(none, period, {})
            timed(
                f"statistics, {days} days, all services",
                args.repeat,
                lambda flt=flt, period=period: compute(session, cfg, flt, period),
                lambda s: f"{s.total} reports, median first action {s.first_action.median_hours or 0:.1f} h",
            )
            timed(
                f"statistics, {days} days, agent of voirie",
                args.repeat,
                lambda flt=flt, period=period: compute(session, cfg, flt, period, service_scope="voirie"),
                lambda s: f"{s.total} reports",
            )
            timed(
                f"hotspots, {days} days",
                args.repeat,
                lambda period=period: find_hotspots(session, cfg, none, period),
                lambda r: f"{len(r.hotspots)} hotspots among {r.located} located reports",
            )
        located = [
            (lat, lon) for lat, lon in session.execute(select(Report.lat, Report.lon).where(Report.lat.is_not(None)))
        ]
    timed(
        f"cluster() alone, {len(located)} points, 150 m, ≥ 6",
        args.repeat,
        lambda: cluster(located, radius_m=150, min_points=6),
        lambda g: f"{len(g)} groups",
    )
    timed(
        f"cluster() alone, {len(located)} points, 50 m, ≥ 3",
        args.repeat,
        lambda: cluster(located, radius_m=50, min_points=3),
        lambda g: f"{len(g)} groups",
    )
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
