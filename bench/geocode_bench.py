"""Geocoding benchmark: Paris extract import time, queries per second, accuracy on DansMaRue reports.

Run: .venv/bin/python -m bench.geocode_bench [--queries 3000] [--reference PATH] [--reports PATH]
Prints the import time (first import and idempotent re-import into SQLite), the index load time, queries per
second for exact, fuzzy (one letter dropped) and street-only queries, and the share of DansMaRue report
addresses geocoded within 50 m of the report's own position, with the share of exact / estimated / missed
answers; then held-out numbers: one number at a time is removed from the reference, estimated from its
neighbours, and compared with its true BAN point (median and p95 error in metres, the share within the
stated uncertainty, and the share the pipeline would send to review at --max-estimate-m).
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.geocoding import models  # noqa: E402, F401 (registers the address tables)
from intake.geocoding.local import LocalGeocoder  # noqa: E402
from intake.geocoding.matcher import Street  # noqa: E402
from intake.geocoding.reference import import_file  # noqa: E402
from intake.geocoding.spatial import distance_m  # noqa: E402
from intake.models import Base  # noqa: E402
from intake.runtime.db import make_engine, make_sessionmaker  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def _typo(street: Street, rng: random.Random) -> str:
    word = max(street.core, key=len)
    i = rng.randrange(1, len(word) - 1) if len(word) > 2 else 0
    return street.normalized.replace(word, word[:i] + word[i + 1 :], 1)


def _qps(geocoder: LocalGeocoder, queries: list[str]) -> tuple[float, float]:
    """(queries per second, share answered)."""
    started = time.perf_counter()
    answered = sum(geocoder.geocode(q) is not None for q in queries)
    return len(queries) / (time.perf_counter() - started), answered / len(queries)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def held_out(geocoder: LocalGeocoder, count: int, rng: random.Random, max_estimate_m: float) -> None:
    """Remove one number at a time from its street, geocode it, and print the errors against its true point.

    Goes through `geocode`, so that the same run measures an older geocoder (which took the nearest number)."""
    candidates = [(s, key) for s in geocoder.streets() for key in s.points if key[1] == "" and len(s.points) > 1]
    sample = rng.sample(candidates, min(count, len(candidates)))
    errors: list[float] = []
    kept = covered = stated = far = missed = 0
    methods: dict[str, list[float]] = {}
    for street, key in sample:
        point = street.points.pop(key)
        street._numbers = None  # the street's sorted numbers are cached
        try:
            result = geocoder.geocode(f"{key[0]} {street.name} {street.postcode or ''}".strip())
        finally:
            street.points[key] = point
            street._numbers = None
        if result is None or result.street != street.name:
            missed += 1
            continue
        error = distance_m(point[1], point[0], result.lat, result.lon)
        errors.append(error)
        kept += result.housenumber == str(key[0])
        uncertainty = getattr(result, "uncertainty_m", None)
        if uncertainty is not None:
            stated += 1
            covered += error <= uncertainty
        far += uncertainty is None or uncertainty > max_estimate_m
        method = str(
            result.details.get(
                "estimate",
                "exact (même nom, autre arrondissement)"
                if result.number_found
                else "plus proche (ancien comportement)",
            )
        )
        methods.setdefault(method, []).append(error)
    n = len(errors)
    print(
        f"{'held-out numbers geocoded':<34} {n:8d}   median error {_percentile(errors, 0.5):.1f} m, "
        f"p95 {_percentile(errors, 0.95):.1f} m; citizen's number kept {kept / n:.1%}; missed {missed}"
    )
    print(
        f"{'  stated uncertainty holds':<34} {covered / max(stated, 1):8.1%}   ({stated} with one); "
        f"to review (> {max_estimate_m:g} m or unknown) {far / n:.1%}"
    )
    for method, values in sorted(methods.items(), key=lambda item: -len(item[1])):
        print(
            f"  {method:<32} {len(values):8d}   median {_percentile(values, 0.5):.1f} m, "
            f"p95 {_percentile(values, 0.95):.1f} m"
        )


def _timed(label: str, action: Callable[[], object]) -> object:
    started = time.perf_counter()
    result = action()
    print(f"{label:<34} {time.perf_counter() - started:8.3f} s")
    return result


def main() -> int:
    """Run the benchmark once and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--reference", type=Path, default=SHARED / "ban" / "adresses-paris-extrait.csv")
    parser.add_argument("--reports", type=Path, default=SHARED / "dansmarue" / "dansmarue_paris_dev.csv")
    parser.add_argument("--held-out", type=int, default=5000, help="numbers removed and estimated")
    parser.add_argument("--max-estimate-m", type=float, default=40.0, help="addresses.max_estimate_m")
    args = parser.parse_args()
    if not args.reference.is_file():
        print(f"reference file missing: {args.reference}", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        Base.metadata.create_all(engine)
        factory = make_sessionmaker(engine)
        first = import_file(factory, args.reference)
        print(f"{'import (first)':<34} {first.seconds:8.3f} s   {first.summary()}")
        again = import_file(factory, args.reference)
        print(f"{'import (again, idempotent)':<34} {again.seconds:8.3f} s   {again.summary()}")
        geocoder = _timed("load index from database", lambda: LocalGeocoder.load(factory))
        engine.dispose()
    assert isinstance(geocoder, LocalGeocoder)
    print(f"index: {len(geocoder.streets())} streets, {sum(len(s.points) for s in geocoder.streets())} points")

    rng = random.Random(20240901)
    streets = [s for s in geocoder.streets() if s.points and s.core]
    picks = [rng.choice(streets) for _ in range(args.queries)]
    numbered = [(s, rng.choice(sorted(s.points))) for s in picks]
    suites = {
        "exact (number + name)": [f"{n}{r} {s.name} {s.postcode or ''}".strip() for s, (n, r) in numbered],
        "fuzzy (one letter dropped)": [f"{n} {_typo(s, rng)}" for s, (n, _) in numbered],
        "street only": [s.name for s in picks],
    }
    for label, queries in suites.items():
        qps, answered = _qps(geocoder, queries)
        print(f"{label:<34} {qps:8.0f} q/s  ({1000 / qps:.3f} ms/query, {answered:.1%} answered)")

    if args.reports.is_file():
        with args.reports.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        started = time.perf_counter()
        within = exact = estimated = 0
        estimate_errors: list[float] = []
        for row in rows:
            result = geocoder.geocode(row["adresse"], citycode="75056")
            if result is None:
                continue
            error = distance_m(float(row["lat"]), float(row["lon"]), result.lat, result.lon)
            within += error <= 50
            if getattr(result, "estimated", not result.number_found) and result.housenumber:
                estimated += 1
                estimate_errors.append(error)
            else:
                exact += 1
        elapsed = time.perf_counter() - started
        print(
            f"{'dansmarue within 50 m':<34} {within / len(rows):8.2%}   ({within}/{len(rows)}, "
            f"{len(rows) / elapsed:.0f} q/s)"
        )
        missed = len(rows) - exact - estimated
        print(
            f"{'dansmarue exact/estimated/missed':<34} {exact / len(rows):8.2%} / {estimated / len(rows):.2%} / "
            f"{missed / len(rows):.2%}   (estimates vs the report's own point: median "
            f"{_percentile(estimate_errors, 0.5):.0f} m, p95 {_percentile(estimate_errors, 0.95):.0f} m)"
        )
    else:
        print(f"dansmarue reports missing: {args.reports}")
    held_out(geocoder, args.held_out, random.Random(7), args.max_estimate_m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
