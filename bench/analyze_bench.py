"""Benchmark of `guichet analyze`: messages per second against the bare spacy.blank("fr") tokenizer.

Run: .venv/bin/python -m bench.analyze_bench [--repeat 3]
Texts: every message of classifiers/training/data (train and dev, about 2,400), analysed in process exactly as
`guichet analyze` does (category, address extraction, geocoding). Prints both speeds, their ratio (target:
analyze at no less than half the tokenizer's speed, issue 14), the peak resident memory, and the accuracy of
category and address on the development set.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers.category.data import TRAINING_DIR, dev_file, load_jsonl, training_files  # noqa: E402
from intake.config import load_config  # noqa: E402
from intake.pipeline.understanding import Understanding  # noqa: E402


def _fold(text: str | None) -> str:
    text = unicodedata.normalize("NFKD", (text or "").lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def main() -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds of each; the best is kept")
    args = parser.parse_args()
    import spacy

    rows = [r for p in training_files(TRAINING_DIR) for r in load_jsonl(p)] + load_jsonl(dev_file())
    items = [(r.subject, r.text) for r in rows]
    started = time.perf_counter()
    understanding = Understanding.build(load_config(ROOT / "config.yaml"), factory=None)
    load_s = time.perf_counter() - started
    blank = spacy.blank("fr")
    texts = [f"{s}\n{t}" for s, t in items]

    def tokenizer_round() -> float:
        t0 = time.perf_counter()
        for text in texts:
            blank.make_doc(text)
        return time.perf_counter() - t0

    def analyze_round() -> float:
        t0 = time.perf_counter()
        for subject, text in items:
            understanding.analyze(subject, text)
        return time.perf_counter() - t0

    analyze_round()  # warm caches
    tok = min(tokenizer_round() for _ in range(args.repeat))
    ana = min(analyze_round() for _ in range(args.repeat))
    n = len(items)
    print(
        f"messages: {n} (mean {sum(map(len, texts)) / n:.0f} characters); start-up (load model, reference): "
        f"{load_s:.1f} s"
    )
    print(f"spacy.blank('fr') tokenizer: {n / tok:,.0f} messages/s")
    print(f"guichet analyze:             {n / ana:,.0f} messages/s")
    print(f"ratio analyze / tokenizer:   {tok / ana:.2f} (target >= 0.5)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory: {peak:.0f} MiB (target < 400 MiB)")

    dev = load_jsonl(dev_file())
    right_cat = right_street = right_number = with_address = found_none = without = 0
    for row in dev:
        result = understanding.analyze(row.subject, row.text)
        right_cat += result.category == row.category
        mention = result.mention
        if row.address:
            with_address += 1
            if mention is not None and _fold(mention.voie) == _fold(row.address["voie"]):
                right_street += 1
                right_number += (mention.numero or "") == (row.address.get("numero") or "")
        else:
            without += 1
            found_none += mention is None or mention.kind in {"intersection", "landmark"}
    print(
        f"dev set: category accuracy {right_cat / len(dev):.1%}; address street right {right_street}/{with_address} "
        f"({right_street / with_address:.1%}), street and number right {right_number / with_address:.1%}; "
        f"no street address invented in {found_none}/{without} messages without one"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
