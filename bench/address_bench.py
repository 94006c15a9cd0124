"""Address extraction benchmark: AddressExtractor.best against the bare spacy.blank("fr") tokenizer.

Run: .venv/bin/python -m bench.address_bench [--messages 2000] [--repeat 5]
Builds messages from the DansMaRue rows' addresses written the ways citizens write them (abbreviations, no
accents, lower case, a sender's signature), about 30% with no address, and prints messages per second of the
extractor and of the tokenizer on the same texts, their ratio, and the share of messages where the extractor
found the street that was written. Then the French short forms (a word of the name cut short with a dot, "St-"
for Saint, a Roman-numeral arrondissement) on the same addresses, and where the found addresses are placed by
the embedded geocoder: the share exact / estimated / missed, and how often another number than the one written
would be shown (must be 0).
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifiers.address import AddressExtractor, load_reference, normalize_street  # noqa: E402
from classifiers.text import normalize_text  # noqa: E402
from intake.geocoding.local import LocalGeocoder  # noqa: E402
from intake.geocoding.protocol import AddressQuery  # noqa: E402

BAN = [ROOT / "tests/data/ban/adresses-paris-extrait.csv", ROOT.parent / "shared/data/ban/adresses-paris-extrait.csv"]
DANSMARUE = ROOT.parent / "shared/data/dansmarue/dansmarue_paris_dev.csv"

PROBLEMS = [
    "le lampadaire est éteint depuis trois jours",
    "un nid de poule énorme s'est formé sur la chaussée",
    "des sacs poubelle sont déposés sur le trottoir",
    "la grille d'arbre est descellée",
    "un tag raciste a été peint sur le mur",
    "une voiture ventouse est garée depuis des semaines",
    "le feu piéton ne passe plus au vert",
    "des encombrements bloquent le passage des poussettes",
]
DETAILS = [
    " C'est dangereux pour les enfants qui vont à l'école le matin.",
    " J'ai déjà signalé le problème il y a deux semaines sur l'application, sans réponse.",
    " Les personnes âgées doivent descendre sur la chaussée pour passer, avec les voitures qui arrivent vite.",
    " La nuit on ne voit rien et plusieurs voisins ont déjà failli tomber.",
]
OPENINGS = ["Bonjour,\n", "Madame, Monsieur,\n\n", "Bonjour, ", "bjr ", ""]
PLACES = ["devant le {a}", "au {a}", "en face du {a}", "au niveau du {a}", "{a}", "à hauteur du {a}"]
CLOSINGS = [
    "\nMerci d'avance.",
    "\nCordialement,\nJean Martin",
    " merci",
    "\n\nBien à vous,\nA. Dupont\n{s}",
    "\nCordialement, un riverain du {s}",
    "",
]
NO_ADDRESS = [
    "Bonjour, je voudrais connaître les horaires d'ouverture de la mairie le samedi {n} juin. Merci",
    "Madame, Monsieur,\nJe souhaite obtenir une copie de mon acte de naissance (né le {n} mars 1984).\n"
    "Cordialement,\nPaul Durand",
    "Bonjour, le lampadaire devant l'école ne marche plus depuis {n} jours, merci de venir voir.",
    "Je suis absente du {n} au 23 août. Pour toute urgence, contactez le secrétariat.",
    "ya des dechets partout dans le square depuis {n} jours c degueu",
]
_ABBREVIATE = [
    (re.compile(r"\brue\b", re.I), "r."),
    (re.compile(r"\bboulevard\b", re.I), "bd"),
    (re.compile(r"\bavenue\b", re.I), "av."),
    (re.compile(r"\bplace\b", re.I), "pl."),
]


def _written(address: str, rng: random.Random) -> str:
    """An address the way a citizen writes it: sometimes lower case, without accents, abbreviated."""
    address = address.replace(" PARIS", " Paris")
    if rng.random() < 0.5:
        address = address.split(",")[0]
    if rng.random() < 0.4:
        address = address.lower()
    if rng.random() < 0.3:
        address = normalize_text(address)
    if rng.random() < 0.4:
        pattern, short = rng.choice(_ABBREVIATE)
        address = pattern.sub(short, address)
    return address


def messages(count: int, *, seed: int = 42) -> list[tuple[str, str | None]]:
    """`count` (text, expected normalised street or None) pairs built from the DansMaRue addresses."""
    rng = random.Random(seed)
    with open(DANSMARUE, encoding="utf-8", newline="") as handle:
        rows = [r["adresse"] for r in csv.DictReader(handle) if re.match(r"\d+ ", r["adresse"])]
    out: list[tuple[str, str | None]] = []
    for _ in range(count):
        if rng.random() < 0.3:
            out.append((rng.choice(NO_ADDRESS).format(n=rng.randint(1, 28)), None))
            continue
        address = rng.choice(rows)
        street = normalize_street(re.sub(r"^\d+\s*(?:bis|ter)?\s+", "", address.split(",")[0], flags=re.I))
        place = rng.choice(PLACES).format(a=_written(address, rng))
        problem = rng.choice(PROBLEMS)
        body = f"{place[0].upper()}{place[1:]}, {problem}." if rng.random() < 0.4 else f"{problem} {place}."
        details = "".join(rng.sample(DETAILS, rng.choice((0, 0, 1, 2))))  # SMS-like and email-like lengths
        closing = rng.choice(CLOSINGS).format(s=rng.choice(rows).split(",")[0] + ", 75011 Paris")
        out.append((f"{rng.choice(OPENINGS)}{body}{details}{closing}", street))
    return out


_ROMAN = [
    "I",
    "II",
    "III",
    "IV",
    "V",
    "VI",
    "VII",
    "VIII",
    "IX",
    "X",
    "XI",
    "XII",
    "XIII",
    "XIV",
    "XV",
    "XVI",
    "XVII",
    "XVIII",
    "XIX",
    "XX",
]


def _short_form(address: str, rng: random.Random) -> str:
    """The address with its longest name word cut short ("Rép."), "St-" for "Saint-", and the arrondissement in
    Roman numerals ("XIe") instead of the postcode."""
    line = address.split(",")[0]
    postcode = re.search(r"\b750(\d\d)\b", address)
    line = re.sub(r"\bSaint-", "St-", line)
    words = re.findall(r"[A-Za-zÀ-ÿ]{7,}", line)
    if words and rng.random() < 0.7:
        longest = max(words, key=len)
        line = line.replace(longest, longest[:4] + ".", 1)
    if postcode and 1 <= int(postcode.group(1)) <= 20:
        line += f" {_ROMAN[int(postcode.group(1)) - 1]}e"
    return line


def short_forms(count: int, *, seed: int = 7) -> list[tuple[str, str]]:
    """`count` messages whose address is written in short French forms, with the expected normalised street."""
    rng = random.Random(seed)
    with open(DANSMARUE, encoding="utf-8", newline="") as handle:
        rows = [r["adresse"] for r in csv.DictReader(handle) if re.match(r"\d+ ", r["adresse"])]
    out = []
    for address in rng.sample(rows, min(count, len(rows))):
        street = normalize_street(re.sub(r"^\d+\s*(?:bis|ter)?\s+", "", address.split(",")[0], flags=re.I))
        out.append((f"Bonjour, {rng.choice(PROBLEMS)} au {_short_form(address, rng)}. Merci", street))
    return out


def placement(extractor: AddressExtractor, geocoder: LocalGeocoder, texts: list[str]) -> None:
    """Print where the addresses found with a number are placed: exact, estimated (with the share the pipeline
    sends to review at 40 m), missed; and how many would show another number than the one written."""
    exact = estimated = far = missed = other = 0
    for text in texts:
        m = extractor.best(text)
        if m is None or not m.voie or not m.numero:
            continue
        r = geocoder.geocode(AddressQuery(voie=m.voie, numero=m.numero, rep=m.rep, code_postal=m.code_postal))
        if r is None:
            missed += 1
            continue
        if r.housenumber is None or not r.housenumber.startswith(m.numero):
            other += 1
        if getattr(r, "estimated", not r.number_found):  # (an older geocoder only said number_found)
            estimated += 1
            uncertainty = getattr(r, "uncertainty_m", None)
            far += uncertainty is None or uncertainty > 40
        else:
            exact += 1
    n = exact + estimated + missed
    print(
        f"placed (with a number): {n}; exact {exact / n:.1%} / estimated {estimated / n:.1%} "
        f"(of which to review at 40 m: {far}) / missed {missed / n:.1%}; another number shown: {other}"
    )


def _rates(runs: list[Callable[[], object]], n: int, repeat: int) -> list[float]:
    """Messages per second of each run, the best of `repeat` rounds taken in turn (so that a busy moment of the
    machine slows all of them, not one)."""
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for k, run in enumerate(runs):
            start = time.perf_counter()
            run()
            best[k] = min(best[k], time.perf_counter() - start)
    return [n / b for b in best]


def main(argv: list[str] | None = None) -> int:
    """Print messages per second of the extractor and of the tokenizer, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    ban = next((p for p in BAN if p.exists()), None)
    if ban is None or not DANSMARUE.exists():
        print("needs the BAN Paris extract and ../shared/data/dansmarue", file=sys.stderr)
        return 2
    import spacy

    start = time.perf_counter()
    extractor = AddressExtractor(load_reference(ban))
    built = time.perf_counter() - start
    print(f"gazetteer: {len(extractor.gazetteer)} streets from {ban.name}, built in {built:.2f} s")
    data = messages(args.messages)
    texts = [text for text, _ in data]
    nlp = spacy.blank("fr")
    for text in texts:  # warm both caches (spaCy's tokenizer keeps one per word form)
        nlp.make_doc(text)
        extractor.best(text)
    n = len(texts)
    print(
        f"messages: {n} ({sum(1 for _, s in data if s)} with an address), "
        f"mean {sum(map(len, texts)) / n:.0f} characters"
    )
    short = [t for t in texts if len(t) < 120]
    for label, group in (
        ("all", texts),
        ("under 120 characters", short),
        ("120 characters or more", [t for t in texts if len(t) >= 120]),
    ):
        extract, pipe, make_doc = _rates(
            [
                lambda g=group: [extractor.best(t) for t in g],  # type: ignore[misc]
                lambda g=group: list(nlp.tokenizer.pipe(g)),  # type: ignore[misc]
                lambda g=group: [nlp.make_doc(t) for t in g],
            ],  # type: ignore[misc]
            len(group),
            args.repeat,
        )
        print(f"-- {label}: {len(group)} messages")
        print(f"AddressExtractor.best      {extract:10,.0f} messages/s  ({1e6 / extract:6.1f} µs each)")
        print(f"tokenizer.pipe             {pipe:10,.0f} messages/s  ({1e6 / pipe:6.1f} µs each)")
        print(f"make_doc per text          {make_doc:10,.0f} messages/s  ({1e6 / make_doc:6.1f} µs each)")
        print(f"ratio extractor / tokenizer.pipe: {extract / pipe:.2f}x   / make_doc: {extract / make_doc:.2f}x")
    found = sum(
        1
        for (text, street), m in zip(data, map(extractor.best, texts), strict=True)
        if street is not None and m is not None and m.voie and normalize_street(m.voie) == street
    )
    with_address = sum(1 for _, street in data if street is not None)
    false = sum(1 for (_, street), m in zip(data, map(extractor.best, texts), strict=True) if street is None and m)
    print(
        f"street found: {found}/{with_address} ({found / with_address:.1%}); "
        f"a location taken in messages without one: {false}"
    )
    forms = short_forms(500)
    got = sum(
        1
        for text, street in forms
        if (m := extractor.best(text)) is not None and m.voie and normalize_street(m.voie) == street
    )
    print(
        f'short forms ("Rép.", "St-", "XIe"): street found {got}/{len(forms)} ({got / len(forms):.1%}); '
        f"e.g. {forms[0][0]!r}"
    )
    placement(extractor, LocalGeocoder.from_files([ban]), texts + [t for t, _ in forms])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
