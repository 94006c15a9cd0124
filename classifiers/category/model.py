"""Train, save and load the category model: spacy.blank("fr") + a bag-of-words textcat, temperature-calibrated.

Calibration: when `train` is given calibration messages written apart from the training data (the shipped
`dev.jsonl`, by another writer), the temperature is fitted on them, so that confidence reflects messages unlike
the training ones; without them, on a stratified held-out share of the training data (as before).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from classifiers.category.data import Labelled
from classifiers.category.features import model_text
from classifiers.category.vocabulary import marking_words, unusual_model_text

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "model" / "category"
CALIBRATION_FILE = "guichet_calibration.json"
WORDS_FILE = "guichet_words.json"  # the marking words of classifiers.category.vocabulary


@dataclass(frozen=True)
class Prediction:
    """The most likely category, its calibrated confidence, and every category's probability."""

    category: str
    confidence: float
    scores: dict[str, float]
    unusual: bool = False  # no word of the message marks any category: an agent checks it whatever the confidence


def _build(labels: Sequence[str], *, length: int) -> Any:
    import spacy

    nlp = spacy.blank("fr")
    # Single words (with the stems of features.py): word pairs fitted the training writers' phrasing and lost
    # 4 points of accuracy on messages written by another hand (unseen_dev: 0.873 with pairs, 0.906 without).
    model = {
        "@architectures": "spacy.TextCatBOW.v3",
        "exclusive_classes": True,
        "ngram_size": 1,
        "no_output_layer": False,
        "length": length,
    }
    textcat: Any = nlp.add_pipe("textcat", config={"model": model, "threshold": 0.0})
    for label in labels:
        textcat.add_label(label)
    return nlp


def _examples(nlp: Any, rows: Iterable[Labelled], labels: Sequence[str]) -> list[Any]:
    from spacy.training import Example

    out = []
    for row in rows:
        doc = nlp.make_doc(model_text(row.subject, row.text))
        cats = {label: float(label == row.category) for label in labels}
        out.append(Example.from_dict(doc, {"cats": cats}))
    return out


def _temperature(probabilities: list[dict[str, float]], gold: list[str]) -> float:
    """The temperature minimising the negative log-likelihood of held-out messages (grid search)."""
    best_t, best_nll = 1.0, math.inf
    for step in range(10, 401, 5):
        t = step / 100
        nll = 0.0
        for probs, label in zip(probabilities, gold, strict=True):
            scaled = {k: math.exp(math.log(max(v, 1e-9)) / t) for k, v in probs.items()}
            nll -= math.log(max(scaled[label] / sum(scaled.values()), 1e-12))
        if nll < best_nll:
            best_t, best_nll = t, nll
    return best_t


def train(
    rows: list[Labelled],
    *,
    labels: Sequence[str],
    epochs: int = 12,
    seed: int = 7,
    calibration_share: float = 0.12,
    length: int = 2**16,
    calibration: Sequence[Labelled] | None = None,
) -> CategoryModel:
    """Train on `rows`; the temperature is fitted on `calibration` (messages written apart, never trained on)
    when given, else on a stratified held-out share of `rows` that then joins training."""
    from spacy.util import fix_random_seed, minibatch  # type: ignore[attr-defined]  # exported at run time

    fix_random_seed(seed)
    rng = random.Random(seed)
    by_label: dict[str, list[Labelled]] = {}
    for row in rows:
        by_label.setdefault(row.category, []).append(row)
    held, fit = [], []
    for items in by_label.values():
        items = items[:]
        rng.shuffle(items)
        cut = max(1, int(len(items) * calibration_share))
        held.extend(items[:cut])
        fit.extend(items[cut:])

    def run(train_rows: list[Labelled]) -> Any:
        nlp = _build(labels, length=length)
        examples = _examples(nlp, train_rows, labels)
        optimizer = nlp.initialize(lambda: examples)
        for _ in range(epochs):
            rng.shuffle(examples)
            for batch in minibatch(examples, size=16):  # type: ignore[no-untyped-call]
                nlp.update(batch, sgd=optimizer, drop=0.2)
        return nlp

    words = frozenset(marking_words(rows))
    if calibration:  # one model on every training row, its temperature fitted on messages it never saw
        held = list(calibration)
        model = probe = CategoryModel(run(list(rows)), temperature=1.0, words=words)
        calibrated_on = f"{len(held)} calibration messages written apart from training"
    else:  # a probe without the held-out share fits the temperature; the shipped model is trained on all
        probe = CategoryModel(run(fit), temperature=1.0)
        model = CategoryModel(run(fit + held), temperature=1.0, words=words)
        calibrated_on = f"{len(held)} training messages held out ({calibration_share:.0%})"
    model.temperature = _temperature([probe.probabilities(r.subject, r.text) for r in held], [r.category for r in held])
    digest = hashlib.sha256("\n".join(sorted(f"{r.id}:{r.category}:{r.text}" for r in rows)).encode()).hexdigest()
    model.meta = {
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "examples": len(rows),
        "data_sha256": digest[:16],
        "temperature": model.temperature,
        "calibrated_on": calibrated_on,
        "epochs": epochs,
        "seed": seed,
        "labels": list(labels),
    }
    return model


class CategoryModel:
    """A loaded category pipeline; `predict` gives calibrated confidences."""

    def __init__(
        self, nlp: Any, *, temperature: float, meta: dict[str, Any] | None = None, words: frozenset[str] = frozenset()
    ) -> None:
        self.nlp = nlp
        self.temperature = temperature
        self.meta: dict[str, Any] = meta or {}
        self.words = words  # marking words (vocabulary.py); empty for a model saved without them: never unusual

    @property
    def labels(self) -> list[str]:
        """Category codes the model knows."""
        return list(self.nlp.get_pipe("textcat").labels)

    def probabilities(self, subject: str, text: str) -> dict[str, float]:
        """Raw (uncalibrated) probabilities of each category."""
        doc = self.nlp(model_text(subject, text))
        return dict(doc.cats)

    def _calibrate(self, cats: dict[str, float], *, unusual: bool = False) -> Prediction:
        scaled = {k: math.exp(math.log(max(v, 1e-9)) / self.temperature) for k, v in cats.items()}
        total = sum(scaled.values())
        scores = {k: v / total for k, v in scaled.items()}
        best = max(scores, key=lambda k: scores[k])
        return Prediction(best, scores[best], scores, unusual)

    def predict(self, subject: str, text: str) -> Prediction:
        """The calibrated prediction for one message."""
        features = model_text(subject, text)
        return self._calibrate(dict(self.nlp(features).cats), unusual=unusual_model_text(features, self.words))

    def predict_many(self, items: Sequence[tuple[str, str]], *, batch_size: int = 256) -> list[Prediction]:
        """Calibrated predictions for many (subject, text) pairs, batched through nlp.pipe."""
        texts = [model_text(s, t) for s, t in items]
        docs = self.nlp.pipe(texts, batch_size=batch_size)
        return [
            self._calibrate(dict(doc.cats), unusual=unusual_model_text(features, self.words))
            for doc, features in zip(docs, texts, strict=True)
        ]

    def save(self, path: Path) -> None:
        """Write the spaCy pipeline and the calibration next to it (a versioned directory)."""
        self.nlp.meta["name"] = "guichet_category"
        self.nlp.meta["version"] = datetime.now(UTC).strftime("%Y.%m.%d")
        self.nlp.meta["description"] = "Guichet: category of citizen reports (bag-of-words textcat)"
        self.nlp.to_disk(path)
        (path / CALIBRATION_FILE).write_text(json.dumps({**self.meta, "temperature": self.temperature}, indent=2))
        (path / WORDS_FILE).write_text(json.dumps(sorted(self.words), ensure_ascii=False, indent=0))

    @classmethod
    def load(cls, path: Path = DEFAULT_MODEL_DIR) -> CategoryModel:
        """Load a saved model, once per process while its files are unchanged (a model is never modified after
        loading); a missing or broken directory raises FileNotFoundError with its path."""
        if not (path / CALIBRATION_FILE).is_file():
            raise FileNotFoundError(f"no trained category model in {path} (run `guichet train`)")
        resolved = path.resolve()
        fingerprint = _fingerprint(resolved)
        with _LOADED_LOCK:
            cached = _LOADED.get(resolved)
            if cached is None or cached[0] != fingerprint:
                cached = _LOADED[resolved] = (fingerprint, cls._read(resolved))
            return cached[1]

    @classmethod
    def _read(cls, path: Path) -> CategoryModel:
        from classifiers.category.french import load_french

        meta = json.loads((path / CALIBRATION_FILE).read_text())
        words_file = path / WORDS_FILE
        words = frozenset(json.loads(words_file.read_text())) if words_file.is_file() else frozenset()
        return cls(load_french(path), temperature=float(meta["temperature"]), meta=meta, words=words)


# Loaded models by resolved directory, with the fingerprint of its files when loaded: `guichet train --output` over
# the same folder, or a model copied in its place, is read again.
_LOADED: dict[Path, tuple[tuple[tuple[str, int, int], ...], CategoryModel]] = {}
_LOADED_LOCK = threading.Lock()


def _fingerprint(path: Path) -> tuple[tuple[str, int, int], ...]:
    """Every file under the model directory with its modification time (ns) and size."""
    files = []
    for file in sorted(path.rglob("*")):
        if file.is_file():
            stat = file.stat()
            files.append((str(file.relative_to(path)), stat.st_mtime_ns, stat.st_size))
    return tuple(files)
