"""The category model loads without spaCy's French package (classifiers/category/french.py) and reads every text
exactly as `spacy.load` does: same tokens, same token-match decisions, same category scores."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import srsly

from classifiers.category.features import model_text
from classifiers.category.french import factor_token_match, load_french, split_alternatives
from classifiers.category.model import DEFAULT_MODEL_DIR
from tests.conftest import ROOT

DATA = ROOT / "classifiers" / "training" / "data"


def _texts() -> list[tuple[str, str]]:
    rows = []
    for file in sorted(DATA.glob("*.jsonl")):
        for line in file.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows.append((row["subject"], row["text"]))
    return rows


def test_split_alternatives_ignores_bars_inside_groups_classes_and_escapes() -> None:
    assert split_alternatives(r"a|(?:b|c)|[|(]x|\|y|[]|]z") == ["a", "(?:b|c)", "[|(]x", r"\|y", "[]|]z"]
    assert split_alternatives("[^]|]|b") == ["[^]|]", "b"]


def test_a_pattern_of_another_shape_is_left_alone() -> None:
    assert factor_token_match("(?i)^abc$|^de$") == "(?i)^abc$|^de$"
    assert factor_token_match("no flags") == "no flags"


def test_the_factored_token_match_decides_every_word_as_spacy_does() -> None:
    """Words of every training and development text, hyphenated and elided forms made from the pattern's own
    heads, upper-cased too: the saved pattern and the factored one agree on each (the saved one takes ~3 s)."""
    saved = srsly.msgpack_loads((DEFAULT_MODEL_DIR / "tokenizer").read_bytes())["token_match"]
    factored = factor_token_match(saved)
    assert len(split_alternatives(factored.partition(")")[2])) < len(split_alternatives(saved.partition(")")[2])) / 10
    original, fast = re.compile(saved), re.compile(factored)
    words = {w.strip('.,;:!?()"«»') for subject, text in _texts() for w in f"{subject} {text}".split()}
    made = []
    for head in re.findall(r"\(\?:\^([a-zàâçéèêëîïôûùüÿœ]{2,})\[", saved):
        for ending in ("-truc", "-de-l'eau", "'abord", "-x", "-saint-jean", "-outils", "-isme", "-"):
            made += [head + ending, (head + ending).upper(), "Jean" + ending]
    words |= set(made)
    matching = [w for w in words if original.match(w)]
    assert len(made) > 500 and len(matching) > 1000  # the check covers words the pattern keeps whole
    assert [w for w in words if bool(original.match(w)) != bool(fast.match(w))] == []


def test_the_pipeline_reads_every_text_as_spacy_load_does() -> None:
    import spacy

    fast = load_french(DEFAULT_MODEL_DIR)
    reference = spacy.load(DEFAULT_MODEL_DIR)
    texts = [model_text(subject, text) for subject, text in _texts()]
    assert len(texts) > 3000
    different = [
        a.text
        for a, b in zip(fast.pipe(texts), reference.pipe(texts), strict=True)
        if [t.text for t in a] != [t.text for t in b] or a.cats != b.cats
    ]
    assert different == []


def test_a_worker_builds_its_understanding_without_spacy_french_package() -> None:
    """The import that compiled the 1.45 MB pattern (3.6 s per process) is not made by a process that files."""
    code = (
        "import sys\n"
        "from intake.config import load_config\n"
        "from intake.pipeline.understanding import Understanding\n"
        "u = Understanding.build(load_config('config.yaml'))\n"
        "print(u.classify('Lampadaire', 'Le lampadaire devant le 3 rue de Rivoli est éteint').category)\n"
        "print('spacy.lang.fr' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["eclairage", "False"]


def test_a_pipeline_of_another_language_is_loaded_by_spacy(tmp_path: Path) -> None:
    import spacy

    spacy.blank("en").to_disk(tmp_path / "p")
    assert load_french(tmp_path / "p").lang == "en"
