"""Address extraction over the real corpora: every DansMaRue address, and the hand-written training messages."""

from __future__ import annotations

import csv
import json
import re

import pytest

from classifiers.address import AddressExtractor, normalize_street
from classifiers.text import normalize_text
from tests.classifiers.test_address_support import ROOT, SHARED, paris_extractor

DANSMARUE = SHARED / "dansmarue" / "dansmarue_paris_dev.csv"
TRAINING = ROOT / "classifiers" / "training" / "data"
pytestmark = pytest.mark.corpus


@pytest.fixture(scope="module")
def paris() -> AddressExtractor:
    return paris_extractor()


def _street_of(address: str, extractor: AddressExtractor) -> str:
    """The street of a DansMaRue address ("2 bis Rue du Jourdain, 75020 PARIS"), as a gazetteer key when the
    gazetteer knows it ("Square Nadar Rue Saint-Éleuthère" is Rue Saint-Éleuthère)."""
    part = re.sub(r"^[\d\s/-]+(?:bis|ter|quater|[a-z])?\b", "", address.rsplit(",", 1)[0], flags=re.I)
    words = normalize_street(part).split()
    known = extractor.gazetteer.streets
    return next((" ".join(words[k:]) for k in range(len(words)) if " ".join(words[k:]) in known), " ".join(words))


@pytest.mark.skipif(not DANSMARUE.exists(), reason="../shared/data/dansmarue is absent")
def test_every_dansmarue_address_written_abbreviated(paris: AddressExtractor) -> None:
    with open(DANSMARUE, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    found = 0
    for row in rows:
        written = re.sub(r"\brue\b", "r.", normalize_text(row["adresse"]))
        mention = paris.best(f"Bonjour, il y a un problème au {written}. Merci")
        found += (
            mention is not None
            and mention.voie is not None
            and (normalize_street(mention.voie) == _street_of(row["adresse"], paris))
        )
    print(f"\nDansMaRue: the row's street found in {found}/{len(rows)} messages ({found / len(rows):.2%})")
    assert found / len(rows) >= 0.95


@pytest.mark.skipif(not (TRAINING / "dev.jsonl").exists(), reason="no training data in classifiers/training/data")
def test_hand_written_messages(paris: AddressExtractor) -> None:
    """Messages written from real rows, as citizens and clerks write (see classifiers/training/DATA_FORMAT.md)."""
    rows = [
        json.loads(line)
        for path in sorted(TRAINING.glob("*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    located = right = empty = quiet = 0
    for row in rows:
        mention = paris.best(f"{row['subject']}\n{row['text']}" if row["subject"] else row["text"])
        place = mention if mention is not None and mention.kind in ("address", "street") else None
        gold = row["address"]
        if gold is None:
            empty += 1
            quiet += place is None
            continue
        located += 1
        right += (
            place is not None
            and place.voie is not None
            and (
                normalize_street(place.voie) == normalize_street(gold["voie"])
                and (place.numero or "") == gold["numero"]
            )
        )
    print(
        f"\ntraining messages: street and number right in {right}/{located} ({right / located:.1%}); "
        f"no address taken in {quiet}/{empty} messages without one ({quiet / max(empty, 1):.1%})"
    )
    assert right / located >= 0.95
    assert quiet / max(empty, 1) >= 0.8
