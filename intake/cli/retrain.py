"""`guichet train --dry-run`: what retraining with the agents' corrections would change, before it is applied.

The candidate model is trained exactly as `guichet train` would train it (same rows, same epochs and seed), saved in
a temporary directory that is removed afterwards, and compared with the model in use on every development set:
per category and overall, macro-F1 (F1 per category), accuracy, and at the configured review threshold the
coverage (share of messages the model is sure enough of to transmit without review) and the accuracy of those
messages; then the messages whose predicted category would change. Nothing is written in the model's directory.

Per category, the figures are over the messages of that (gold) category: "justes" is the share predicted right
(the recall), "sans revue" the share at or above the threshold, "justes sans revue" the share right among them.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Evaluated when present, in this order; unseen_test2.jsonl is the test set (UNSEEN_TEST2.md), never used to choose.
DEV_SETS = ("dev.jsonl", "unseen_dev.jsonl", "unseen_test2.jsonl")
EXAMPLES = 5  # changed messages shown per set by default


@dataclass(frozen=True)
class CategoryFigures:
    """One model on the messages of one gold category."""

    support: int
    f1: float
    accuracy: float | None
    coverage: float | None
    confident_accuracy: float | None


@dataclass(frozen=True)
class Figures:
    """One model on one development set."""

    total: int
    macro_f1: float
    accuracy: float
    coverage: float
    confident_accuracy: float | None
    per_category: dict[str, CategoryFigures]


@dataclass(frozen=True)
class Change:
    """A message whose predicted category differs between the two models."""

    id: str
    text: str
    gold: str
    before: str
    before_confidence: float
    after: str
    after_confidence: float


@dataclass
class SetComparison:
    """Both models on one development set, and the messages that would change."""

    name: str
    before: Figures
    after: Figures
    changes: list[Change] = field(default_factory=list)

    def counts(self) -> tuple[int, int, int]:
        """(fixed: wrong before and right after, broken: right before and wrong after, still wrong)."""
        fixed = sum(c.after == c.gold for c in self.changes)
        broken = sum(c.before == c.gold for c in self.changes)
        return fixed, broken, len(self.changes) - fixed - broken


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def figures(model: Any, rows: Sequence[Any], predictions: Sequence[Any], *, threshold: float) -> Figures:
    """The figures of `model` on labelled `rows`, given its `predictions` for them (in the same order)."""
    from classifiers.category.evaluate import evaluate

    report = evaluate(model, list(rows), threshold=threshold)
    per: dict[str, CategoryFigures] = {}
    for label in sorted({r.category for r in rows} | set(model.labels)):
        mine = [(r, p) for r, p in zip(rows, predictions, strict=True) if r.category == label]
        sure = [(r, p) for r, p in mine if p.confidence >= threshold]
        metrics = report.per_category.get(label, {})
        per[label] = CategoryFigures(
            support=len(mine),
            f1=float(metrics.get("f1", 0.0)),
            accuracy=_share(sum(p.category == r.category for r, p in mine), len(mine)),
            coverage=_share(len(sure), len(mine)),
            confident_accuracy=_share(sum(p.category == r.category for r, p in sure), len(sure)),
        )
    sure_all = [(r, p) for r, p in zip(rows, predictions, strict=True) if p.confidence >= threshold]
    return Figures(
        total=len(rows),
        macro_f1=report.macro_f1,
        accuracy=report.accuracy,
        coverage=len(sure_all) / len(rows) if rows else 0.0,
        confident_accuracy=_share(sum(p.category == r.category for r, p in sure_all), len(sure_all)),
        per_category=per,
    )


def compare_on(name: str, rows: Sequence[Any], before: Any, after: Any, *, threshold: float) -> SetComparison:
    """Both models on one set of labelled rows."""
    items = [(r.subject, r.text) for r in rows]
    old, new = before.predict_many(items), after.predict_many(items)
    changes = [
        Change(r.id, r.text, r.category, o.category, o.confidence, n.category, n.confidence)
        for r, o, n in zip(rows, old, new, strict=True)
        if o.category != n.category
    ]
    return SetComparison(
        name, figures(before, rows, old, threshold=threshold), figures(after, rows, new, threshold=threshold), changes
    )


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}".replace(".", ",")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %".replace(".", ",")


def _arrow(before: str, after: str) -> str:
    return f"{before} → {after}" if before != after else f"{before} (inchangé)"


def render(comparison: SetComparison, *, threshold: float, examples: int = EXAMPLES) -> str:
    """The French report of one set: a table per category, the overall figures, the changed messages."""
    b, a = comparison.before, comparison.after
    lines = [
        f"== {comparison.name} ({b.total} messages) : modèle actuel → candidat ==",
        f"{'catégorie':<24}{'n':>5}  {'F1':<16}{'justes':<20}{'sans revue':<20}{'justes sans revue':<20}",
    ]
    for label, old in b.per_category.items():
        new = a.per_category.get(label)
        if new is None or (not old.support and not old.f1 and not new.f1):
            continue  # absent from this set and never predicted
        lines.append(
            f"{label:<24}{old.support:>5}  {_num(old.f1) + ' → ' + _num(new.f1):<16}"
            f"{_pct(old.accuracy) + ' → ' + _pct(new.accuracy):<20}"
            f"{_pct(old.coverage) + ' → ' + _pct(new.coverage):<20}"
            f"{_pct(old.confident_accuracy) + ' → ' + _pct(new.confident_accuracy):<20}"
        )
    lines += [
        f"ensemble : macro-F1 {_arrow(_num(b.macro_f1), _num(a.macro_f1))}",
        f"ensemble : exactitude {_arrow(_pct(b.accuracy), _pct(a.accuracy))}",
        f"ensemble : au seuil de revue {_num(threshold, 2)}, transmis sans revue "
        f"{_arrow(_pct(b.coverage), _pct(a.coverage))}, justes parmi eux "
        f"{_arrow(_pct(b.confident_accuracy), _pct(a.confident_accuracy))}",
    ]
    fixed, broken, other = comparison.counts()
    if not comparison.changes:
        lines.append("aucun message ne changerait de catégorie prédite")
        return "\n".join(line.rstrip() for line in lines)
    lines.append(
        f"{len(comparison.changes)} message(s) changeraient de catégorie prédite : justes avec le candidat "
        f"{fixed}, faux avec le candidat {broken}, faux avec les deux {other}"
    )
    moves = Counter((c.before, c.after) for c in comparison.changes)
    lines.append(
        "  changements : "
        + ", ".join(f"{o} → {n} : {k}" for (o, n), k in sorted(moves.items(), key=lambda m: (-m[1], m[0])))
    )
    for change in comparison.changes[:examples]:
        text = " ".join(change.text.split())
        text = text if len(text) <= 70 else text[:69] + "…"
        lines.append(
            f"  {change.id} « {text} » attendu {change.gold} : {change.before} "
            f"({_pct(change.before_confidence)}) → {change.after} ({_pct(change.after_confidence)})"
        )
    if len(comparison.changes) > examples:
        lines.append(f"  … et {len(comparison.changes) - examples} autre(s)")
    return "\n".join(line.rstrip() for line in lines)


def dev_sets(directory: Path) -> list[tuple[str, Path]]:
    """The development sets present in `directory`, by name."""
    return [(name, directory / name) for name in DEV_SETS if (directory / name).is_file()]


def dry_run(
    *,
    rows: Sequence[Any],
    labels: Sequence[str],
    current_dir: Path,
    data_dir: Path,
    epochs: int,
    seed: int,
    threshold: float,
    examples: int = EXAMPLES,
) -> str:
    """Train the candidate on `rows` in a temporary directory, compare it with the model of `current_dir` on the
    development sets of `data_dir`, and return the French report. Writes nothing outside the temporary
    directory (removed before returning)."""
    from classifiers.category.data import load_jsonl
    from classifiers.category.model import CategoryModel, train

    current = CategoryModel.load(current_dir)
    sets = dev_sets(data_dir)
    out = [
        f"modèle actuel : {current_dir}",
        f"candidat : {len(rows)} exemples, {epochs} époques, graine {seed}, entraîné dans un dossier temporaire",
    ]
    with tempfile.TemporaryDirectory(prefix="guichet-train-essai-") as tmp:
        candidate_dir = Path(tmp) / "category"
        candidate_dir.mkdir()
        # Calibrated as `guichet train` does: the temperature fitted on the development set when there is one.
        calibration = load_jsonl(data_dir / DEV_SETS[0]) if (data_dir / DEV_SETS[0]).is_file() else None
        train(list(rows), labels=labels, epochs=epochs, seed=seed, calibration=calibration).save(candidate_dir)
        candidate = CategoryModel.load(candidate_dir)  # as it would be read once installed
        if not sets:
            out.append(f"aucun jeu de développement dans {data_dir} ({', '.join(DEV_SETS)}) : rien à comparer")
        for name, path in sets:
            comparison = compare_on(name, load_jsonl(path), current, candidate, threshold=threshold)
            out.append(render(comparison, threshold=threshold, examples=examples))
    missing = [name for name in DEV_SETS if name not in dict(sets)]
    if sets and missing:
        out.append(f"absent(s) de {data_dir}, non évalué(s) : {', '.join(missing)}")
    out.append("essai seulement : aucun modèle n'a été enregistré (relancez sans --dry-run pour l'appliquer)")
    return "\n".join(out)
