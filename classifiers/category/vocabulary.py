"""Words that mark a category, learnt from the training messages: a message with none of them is unusual.

The bag-of-words model always answers with some category, even for a text made of words it never saw
("bonjour, voir pièce jointe"); its confidence then only reflects the priors. A message without a single
word that the training data ties to one category (any category, `autre` included) is sent to an agent
whatever the confidence says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from classifiers.category.data import Labelled
from classifiers.category.features import model_text

MIN_MESSAGES = 3  # a marking word appears in at least this many training messages...
MIN_LIFT = 2.5  # ...and one category's share of them is at least this multiple of its share of all messages


def marking_words(
    rows: Iterable[Labelled],
    *,
    min_messages: int = MIN_MESSAGES,
    min_lift: float = MIN_LIFT,
    side_remarks: bool = True,
) -> set[str]:
    """The model-text tokens (words and stems) far more frequent in one category than in the training messages."""
    total: Counter[str] = Counter()
    per_category: dict[str, Counter[str]] = {}
    sizes: Counter[str] = Counter()
    for row in rows:
        sizes[row.category] += 1
        tokens = set(model_text(row.subject, row.text, side_remarks=side_remarks).split())
        total.update(tokens)
        per_category.setdefault(row.category, Counter()).update(tokens)
    words = set()
    for token, n in total.items():
        if n < min_messages or token.isdigit():
            continue
        messages = sum(sizes.values())
        if any(counts[token] / n >= min_lift * sizes[category] / messages for category, counts in per_category.items()):
            words.add(token)
    return words


def is_unusual(subject: str, text: str, words: set[str] | frozenset[str]) -> bool:
    """Whether the message has no marking word at all (an empty set of words means: not known, never unusual)."""
    return unusual_model_text(model_text(subject, text), words)


def unusual_model_text(features: str, words: set[str] | frozenset[str]) -> bool:
    """`is_unusual` for a message already turned into the model's text (features.model_text)."""
    return bool(words) and not any(token in words for token in features.split())
