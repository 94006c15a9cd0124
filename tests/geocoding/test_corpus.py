"""Every DansMaRue report address of the shared corpus geocoded against the Paris reference extract."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from intake.geocoding.local import LocalGeocoder
from intake.geocoding.spatial import distance_m

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared/data"
REPORTS = SHARED_DATA / "dansmarue" / "dansmarue_paris_dev.csv"
REFERENCE = SHARED_DATA / "ban" / "adresses-paris-extrait.csv"

pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(not (REPORTS.is_file() and REFERENCE.is_file()), reason=f"shared corpus absent: {SHARED_DATA}"),
]


def test_dansmarue_addresses_found_within_50_m() -> None:
    geocoder = LocalGeocoder.from_files([REFERENCE])
    with REPORTS.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    within = 0
    for row in rows:
        result = geocoder.geocode(row["adresse"], citycode="75056")
        if result is not None and distance_m(float(row["lat"]), float(row["lon"]), result.lat, result.lon) <= 50:
            within += 1
    share = within / len(rows)
    print(f"dansmarue: {within}/{len(rows)} addresses within 50 m ({share:.2%})")
    assert share >= 0.97
