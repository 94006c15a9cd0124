"""Dedupe benchmark: replay the real Paris DansMaRue reports in date order and count what would be merged.

Run: .venv/bin/python -m bench.dedupe_bench [--reports PATH] [--window-days 14]
Uses the matching function of the `dedupe` stage (intake.reports.dedupe.closest) in memory, with the default radii of
config.py, then with every radius halved and doubled. Every report is taken as open (the file has no status),
so the figures are an upper bound; a matched report becomes a duplicate and is never matched against itself.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intake.config import DEDUPE_RADII  # noqa: E402
from intake.reports.dedupe import closest  # noqa: E402

REPORTS = ROOT.parent / "shared" / "data" / "dansmarue" / "dansmarue_paris_dev.csv"
# DansMaRue `type` → category code, as in classifiers/training/DATA_FORMAT.md (matched on the label's start)
TYPES = (
    ("Voirie", "voirie"),
    ("Éclairage", "eclairage"),
    ("Propreté", "proprete"),
    ("Objets abandonnés", "objets_abandonnes"),
    ("Graffitis", "graffitis"),
    ("Mobiliers urbains", "mobilier_urbain"),
    ("Arbres", "vegetaux"),
    ("Autos", "vehicules"),
    ("Eau", "eau"),
    ("Activités commerciales", "activites_commerciales"),
)

Row = tuple[str, datetime, str, float, float]


def load(path: Path) -> list[Row]:
    """(id, date, category, lat, lon) of every usable row, in date order (file order within a day)."""
    rows: list[Row] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh):
            cat = next((code for prefix, code in TYPES if rec["type"].startswith(prefix)), None)
            if cat is None or not rec["lat"] or not rec["lon"]:
                continue
            day = datetime.fromisoformat(rec["datedecl"][:10]).replace(tzinfo=UTC)
            rows.append((rec["id_dmr"], day, cat, float(rec["lat"]), float(rec["lon"])))
    rows.sort(key=lambda r: r[1])  # stable: file order within a day
    return rows


def replay(rows: list[Row], *, radii: dict[str, float], window_days: int) -> dict[str, int]:
    """Number of reports that would be linked as duplicates, per category."""
    open_by_cat: dict[str, list[tuple[int, float, float, datetime]]] = defaultdict(list)
    merged: dict[str, int] = defaultdict(int)
    window = timedelta(days=window_days)
    for i, (_, day, cat, lat, lon) in enumerate(rows):
        mains = open_by_cat[cat]
        mains[:] = [m for m in mains if m[3] >= day - window]  # rows come in date order: drop what left the window
        found = closest(lat, lon, mains, radius_m=radii.get(cat, radii["default"]))
        if found is None:
            mains.append((i, lat, lon, day))
        else:
            merged[cat] += 1
    return merged


def main(argv: list[str] | None = None) -> int:
    """Print merged reports per category and overall, at radius ×1, ×0.5 and ×2."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=Path, default=REPORTS)
    parser.add_argument("--window-days", type=int, default=14)
    args = parser.parse_args(argv)
    rows = load(args.reports)
    totals: dict[str, int] = defaultdict(int)
    for _, _, cat, _, _ in rows:
        totals[cat] += 1
    factors = (1.0, 0.5, 2.0)
    results = {
        f: replay(rows, radii={k: v * f for k, v in DEDUPE_RADII.items()}, window_days=args.window_days)
        for f in factors
    }
    print(f"{len(rows)} reports, {rows[0][1]:%Y-%m-%d} → {rows[-1][1]:%Y-%m-%d}, window {args.window_days} days")
    print(f"{'category':<24}{'reports':>8}{'radius':>8}" + "".join(f"{'×' + str(f):>14}" for f in factors))
    for cat in sorted(totals, key=lambda c: -totals[c]):
        cells = "".join(f"{results[f][cat]:>6} {results[f][cat] / totals[cat]:>6.1%}" for f in factors)
        print(f"{cat:<24}{totals[cat]:>8}{DEDUPE_RADII.get(cat, DEDUPE_RADII['default']):>7.0f}m{cells}")
    n = len(rows)
    cells = "".join(f"{sum(results[f].values()):>6} {sum(results[f].values()) / n:>6.1%}" for f in factors)
    print(f"{'overall':<24}{n:>8}{'':>8}{cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
