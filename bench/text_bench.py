"""Text helpers benchmark: phone numbers in free text, the contact masker, RTF bodies, the edit distance.

Run: .venv/bin/python -m bench.text_bench [--emails PATH] [--repeat 5]
Parses every message of the shared email corpus once, then times on its bodies (text and signature): the
first assigned phone number of a body (find_phone, what a mail's sender_phone comes from), the same per line
(the signature test), the contact masker, and to_e164 on the numbers found; then the TNEF RTF bodies
through the RTF reader, and the OSA edit distance on random typo pairs. Prints microseconds per item.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers.text import edit_distance  # noqa: E402
from intake.email.attachments import _rtf_to_text  # noqa: E402
from intake.email.parse import parse_email  # noqa: E402
from intake.masking import mask_contacts  # noqa: E402
from intake.phones import find_phone, find_phones, to_e164  # noqa: E402

EMAILS = ROOT.parent / "shared" / "data" / "emails"


def _per_item(action: Callable[[Any], object], items: Sequence[Any], repeat: int) -> float:
    """Best microseconds per item over `repeat` passes."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            action(item)
        best = min(best, time.perf_counter() - started)
    return best / max(1, len(items)) * 1e6


def _typos(count: int) -> list[tuple[str, str]]:
    rng = random.Random(1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    pairs = []
    for _ in range(count):
        word = "".join(rng.choice(letters) for _ in range(rng.randint(4, 14)))
        i = rng.randrange(len(word))
        pairs.append((word, word[:i] + rng.choice(letters) + word[i + 1 :]))
    return pairs


def main(argv: list[str] | None = None) -> int:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=Path, default=EMAILS)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    if not args.emails.is_dir():
        print(f"needs the shared email corpus at {args.emails}", file=sys.stderr)
        return 2
    logging.disable(logging.CRITICAL)  # mail-parser logs every MIME type it does not handle
    files = [p for p in sorted(args.emails.rglob("*")) if p.is_file() and p.read_bytes().strip()]
    bodies = []
    for path in files:
        mail = parse_email(path.read_bytes())
        bodies.append(f"{mail.text}\n{mail.signature}")
    lines = [line for body in bodies for line in body.split("\n") if line.strip()]
    found = [m.raw for body in bodies for m in find_phones(body)]
    print(
        f"{len(bodies)} bodies (mean {sum(map(len, bodies)) / len(bodies):.0f} characters), {len(lines)} lines, "
        f"{len(found)} numbers found, {sum(1 for b in bodies if find_phone(b))} bodies with an assigned one"
    )
    print(f"find_phone per body        {_per_item(find_phone, bodies, args.repeat):9.1f} µs")
    print(f"find_phones per line       {_per_item(find_phones, lines, args.repeat):9.1f} µs")
    print(f"mask_contacts per body     {_per_item(mask_contacts, bodies, args.repeat):9.1f} µs")
    print(f"to_e164 per number found   {_per_item(to_e164, found, args.repeat):9.1f} µs")
    from tnefparse import TNEF

    rtf = []
    for path in sorted((args.emails / "tnefparse").glob("*.tnef")):
        try:
            body = TNEF(path.read_bytes()).rtfbody
        except Exception:  # some fixtures are broken on purpose
            continue
        if isinstance(body, bytes):
            rtf.append(body)
    if rtf:
        print(
            f"RTF body ({len(rtf)}, mean {sum(map(len, rtf)) // len(rtf)} bytes)"
            f"{_per_item(_rtf_to_text, rtf, args.repeat):11.1f} µs"
        )
    pairs = _typos(20_000)
    print(f"edit_distance per pair    {_per_item(lambda p: edit_distance(p[0], p[1], 2), pairs, args.repeat):10.2f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
