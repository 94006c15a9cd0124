"""Build classifiers/training/data/train_voices3.jsonl from the hand-written blocks of classifiers/training/voices3/.

Run: .venv/bin/python scripts/build_train_voices3.py   (deterministic: same file on every run; TRAIN_VOICES3.md)

Block format (one message per block; a block starts with a line "@ category | channel | subject | where"):
    where = "R:<soustype prefix>": the next DansMaRue row of that soustype that no file of classifiers/training/data
            uses (nor the test set: its rows are in it) and whose street the BAN extract knows; when none is left,
            an invented report at a random BAN house number (source_row null);
            "B": a random house number of the BAN extract (invented report, source_row null);
            "-": no place (address null).
{A} in the subject or text is the place as citizens write it ("14 rue Oberkampf"); {V} the street alone. A block
without {A} gets a null address ({V} alone: the street without a number).
"""

from __future__ import annotations

import csv
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BLOCKS = ROOT / "classifiers" / "training" / "voices3"
DATA = ROOT / "classifiers" / "training" / "data"
OUTPUT = "train_voices3.jsonl"
DANSMARUE = Path("/work/shared/data/dansmarue/dansmarue_paris_dev.csv")
BAN = Path("/work/shared/data/ban/adresses-paris-extrait.csv")
SEED = 20261208
WAYS = ("Rue", "Avenue", "Boulevard", "Place", "Quai", "Passage", "Impasse", "Villa", "Allée", "Cours", "Square")


def written(voie: str) -> str:
    """A BAN street name as people write it: "Rue Oberkampf" -> "rue Oberkampf"."""
    first, _, rest = voie.partition(" ")
    return f"{first.lower()} {rest}" if first in WAYS else voie


def used_rows(data: Path) -> set[str]:
    """DansMaRue rows used by any data file but this one (training, development and test sets)."""
    used = set()
    for path in sorted(data.glob("*.jsonl")):
        if path.name == OUTPUT:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and (row := json.loads(line)).get("source_row"):
                used.add(row["source_row"])
    return used


def main() -> int:
    """Build and print the composition."""
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else DATA
    rng = random.Random(SEED)
    used = used_rows(data)
    with DANSMARUE.open(encoding="utf-8") as file:
        rows = [r for r in csv.DictReader(file) if r["id_dmr"] not in used]
    rng.shuffle(rows)
    with BAN.open(encoding="utf-8") as file:
        ban = list(csv.DictReader(file, delimiter=";"))
    by_street: dict[tuple[str, str], list[dict[str, str]]] = {}
    for b in ban:
        by_street.setdefault((b["nom_voie"].lower(), b["code_postal"]), []).append(b)
    numbered = [
        b
        for b in ban
        if b["numero"].isdigit()
        and not b["rep"]
        and b["nom_voie"][:1].isupper()
        and b["nom_voie"].split()[0] in WAYS[:5]
    ]

    def from_row(row: dict[str, str]) -> dict[str, str] | None:
        match = re.match(r"^(\d+)\s*([a-zA-Z]{0,3})\s+(.*?),\s*(\d{5})", row["adresse"])
        if not match:
            return None
        number, rep, street, postcode = match.groups()
        known = by_street.get((street.lower(), postcode), [])
        if not known or rep:
            return None
        voie = sorted({b["nom_voie"] for b in known}, key=lambda v: (not v[:1].isupper(), v))[0]
        return {"numero": number, "rep": "", "voie": voie, "code_postal": postcode}

    out: list[dict[str, Any]] = []
    taken: set[str] = set()
    fallbacks: list[str] = []
    for path in sorted(BLOCKS.glob("blocks_*.txt")):
        for block in re.split(r"\n\s*\n(?=@ )", path.read_text(encoding="utf-8")):
            block = block.strip()
            if not block:
                continue
            head, _, text = block.partition("\n")
            category, channel, subject, where = (x.strip() for x in head.lstrip("@").split("|"))
            source = None
            address: dict[str, str] | None = None
            if where.startswith("R:"):
                for row in rows:
                    if row["id_dmr"] not in taken and row["soustype"].startswith(where[2:]):
                        if (address := from_row(row)) is not None:
                            taken.add(row["id_dmr"])
                            source = row["id_dmr"]
                            break
                else:  # no free row of that soustype on a street the BAN extract knows: an invented report
                    where = "B"
                    fallbacks.append(where)
            if where == "B":
                b = rng.choice(numbered)
                address = {"numero": b["numero"], "rep": "", "voie": b["nom_voie"], "code_postal": b["code_postal"]}
            if address is not None:
                place = f"{address['numero']} {written(address['voie'])}"
                text = text.replace("{A}", place).replace("{V}", written(address["voie"]))
                subject = subject.replace("{A}", place).replace("{V}", written(address["voie"]))
                if "{A}" not in block:
                    address = {**address, "numero": ""} if "{V}" in block else None
            if "{" in text or "{" in subject:
                raise SystemExit(f"{path.name}: a place left in a block without one:\n{block}")
            out.append(
                {
                    "channel": channel,
                    "subject": "" if channel == "sms" else subject,
                    "text": text.strip(),
                    "category": category,
                    "address": address,
                    "source_row": source,
                }
            )
    random.Random(SEED).shuffle(out)
    with (data / OUTPUT).open("w", encoding="utf-8") as file:
        for number, item in enumerate(out, 1):
            file.write(json.dumps({"id": f"train-voices3-{number:04d}", **item}, ensure_ascii=False) + "\n")
    print(len(out), "messages:", dict(Counter(d["category"] for d in out)))
    print("from a source row:", sum(bool(d["source_row"]) for d in out), "; rows without a BAN street:", len(fallbacks))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
