"""Load a saved French spaCy pipeline in ~1 s instead of ~5 s: every worker, web process and command pays it.

Measured (spaCy 3.8, quiet machine): `spacy.load` of the category model took 5.5 s, 3.6 s of it importing
`spacy.lang.fr`, whose `tokenizer_exceptions` compiles a 1.45 MB token-match pattern (266 alternatives, each
repeating Unicode letter classes of up to 3,089 characters): 2.9 s of `re.compile`. A saved pipeline does not need
that import: its tokenizer (prefixes, suffixes, infixes, exceptions and the same pattern) is read from its own
files. So this module builds the language from spaCy's French stop words and lexical attributes only, read from
their files without running `spacy/lang/fr/__init__.py`, and reads the tokenizer with its token-match pattern
factored: alternatives that end the same way share one copy of the ending (`^(?:a|b)T` matches exactly what
`^aT|^bT` matches), 15 alternatives instead of 266, compiled in 0.2 s. Tokens and predictions are the same as
`spacy.load`'s (tests/classifiers/test_french_loading.py compares them on every training and development text).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

_BIG_CLASS = re.compile(r"\[[^\]]{20,}\]")  # a Unicode letter class (spaCy's ALPHA, ALPHA_LOWER), not "[ée]"


def split_alternatives(pattern: str) -> list[str]:
    """The top-level alternatives of a regular expression (`|` outside groups and character classes)."""
    parts: list[str] = []
    depth = 0
    start = 0
    in_class = False
    class_start = 0
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            if char == "]" and i != class_start:  # a "]" first in a class is a literal
                in_class = False
        elif char == "[":
            in_class = True
            class_start = i + 2 if pattern[i + 1 : i + 2] == "^" else i + 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(pattern[start:i])
            start = i + 1
        i += 1
    parts.append(pattern[start:])
    return parts


def factor_token_match(pattern: str) -> str:
    """spaCy's saved French token-match pattern with the alternatives sharing an ending grouped under it.

    A pattern of another shape (another language, a spaCy that writes it differently) is returned unchanged.
    """
    flags, separator, body = pattern.partition(")")
    if not flags.startswith("(?") or not separator:
        return pattern
    alternatives = split_alternatives(body)
    endings: dict[str, list[str]] = {}
    for alternative in alternatives:
        if not (alternative.startswith("(?:^") and alternative.endswith("$)")):
            return pattern
        inner = alternative[3:-1]  # "^head<big class>…$"
        found = _BIG_CLASS.search(inner)
        if found is None:
            return pattern
        endings.setdefault(inner[found.start() :], []).append(inner[1 : found.start()])
    groups = [
        "^(?:" + "|".join(heads) + ")" + ending if any(heads) else "^" + ending for ending, heads in endings.items()
    ]
    return flags + ")" + "|".join(groups)


def _french_file(name: str) -> ModuleType:
    """A module of spacy/lang/fr/ executed on its own, without the package's __init__ (and its compile)."""
    import spacy.lang

    path = Path(spacy.lang.__file__).parent / "fr" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"spacy.lang.fr.{name}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"spaCy's French {name} not found at {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def french_stop_words() -> frozenset[str]:
    """spaCy's French stop words, without importing `spacy.lang.fr`."""
    return frozenset(_french_file("stop_words").STOP_WORDS)


_LANGUAGE: Any = None


def saved_french() -> Any:
    """A `Language` class for French pipelines read from disk: spaCy's stop words and lexical attributes; the
    tokenizer's rules come from the pipeline's own files."""
    global _LANGUAGE
    if _LANGUAGE is None:
        from spacy.language import BaseDefaults, Language

        class SavedFrenchDefaults(BaseDefaults):
            lex_attr_getters = _french_file("lex_attrs").LEX_ATTRS
            stop_words = set(french_stop_words())

        class SavedFrench(Language):  # type: ignore[no-untyped-call]
            lang = "fr"
            Defaults = SavedFrenchDefaults

        _LANGUAGE = SavedFrench
    return _LANGUAGE


def load_french(path: Path) -> Any:
    """Load a French pipeline saved by `nlp.to_disk`, as `spacy.load(path)` would, without importing
    `spacy.lang.fr`. A pipeline of another language is left to `spacy.load`."""
    import spacy
    import srsly
    from spacy import util

    config = util.load_config(path / "config.cfg")
    if config["nlp"].get("lang") != "fr":
        return spacy.load(path)
    meta = util.get_model_meta(path)
    nlp = saved_french().from_config(config, meta=meta)
    nlp.from_disk(path, exclude=["tokenizer"])
    data = srsly.msgpack_loads((path / "tokenizer").read_bytes())
    if isinstance(data.get("token_match"), str):
        data["token_match"] = factor_token_match(data["token_match"])
    nlp.tokenizer.from_bytes(srsly.msgpack_dumps(data), exclude=["vocab"])
    return nlp
