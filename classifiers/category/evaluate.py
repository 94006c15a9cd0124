"""Measuring the category model on the development set: P/R/F1 per category, macro-F1, calibration."""

from __future__ import annotations

from dataclasses import dataclass, field

from classifiers.category.data import Labelled
from classifiers.category.model import CategoryModel


@dataclass
class Report:
    """Figures of one evaluation run."""

    total: int
    accuracy: float
    macro_f1: float
    per_category: dict[str, dict[str, float]]
    calibration: list[dict[str, float]] = field(default_factory=list)
    high_confidence_share: float = 0.0      # share of messages with confidence >= threshold
    high_confidence_precision: float = 0.0  # accuracy among them (target >= threshold)
    threshold: float = 0.9
    confusions: list[tuple[str, str, int]] = field(default_factory=list)

    def render(self) -> str:
        """A plain-text table for the console and the issue notes."""
        lines = [f"{'category':<24}{'P':>7}{'R':>7}{'F1':>7}{'n':>6}"]
        for name, m in sorted(self.per_category.items()):
            if not m["support"] and not m["precision"]:
                continue  # absent from this set and never predicted
            lines.append(f"{name:<24}{m['precision']:>7.3f}{m['recall']:>7.3f}{m['f1']:>7.3f}{int(m['support']):>6}")
        lines.append(f"accuracy {self.accuracy:.3f}   macro-F1 {self.macro_f1:.3f}   ({self.total} messages)")
        lines.append(f"confidence >= {self.threshold}: {self.high_confidence_share:.1%} of messages, "
                     f"{self.high_confidence_precision:.1%} of them right")
        lines.append("calibration (confidence bin: share of messages, accuracy):")
        for b in self.calibration:
            lines.append(f"  [{b['low']:.1f}, {b['high']:.1f}): {b['share']:.1%}, accuracy {b['accuracy']:.1%}")
        if self.confusions:
            lines.append("most frequent confusions (gold -> predicted: n): " + ", ".join(
                f"{g}->{p}: {n}" for g, p, n in self.confusions[:8]))
        return "\n".join(lines)


def evaluate(model: CategoryModel, rows: list[Labelled], *, threshold: float = 0.9) -> Report:
    """Evaluate `model` on labelled rows it was never trained on."""
    preds = model.predict_many([(r.subject, r.text) for r in rows])
    gold = [r.category for r in rows]
    labels = sorted(set(gold) | set(model.labels))
    per: dict[str, dict[str, float]] = {}
    for label in labels:
        tp = sum(1 for p, g in zip(preds, gold, strict=True) if p.category == label and g == label)
        fp = sum(1 for p, g in zip(preds, gold, strict=True) if p.category == label and g != label)
        fn = sum(1 for p, g in zip(preds, gold, strict=True) if p.category != label and g == label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[label] = {"precision": precision, "recall": recall, "f1": f1, "support": float(tp + fn)}
    present = [m for m in per.values() if m["support"]]
    right = [p.category == g for p, g in zip(preds, gold, strict=True)]
    bins = []
    for low in [i / 10 for i in range(0, 10)]:
        high = low + 0.1 if low < 0.9 else 1.01
        idx = [i for i, p in enumerate(preds) if low <= p.confidence < high]
        if idx:
            bins.append({"low": low, "high": min(high, 1.0), "share": len(idx) / len(preds),
                         "accuracy": sum(right[i] for i in idx) / len(idx)})
    confident = [i for i, p in enumerate(preds) if p.confidence >= threshold]
    confusions: dict[tuple[str, str], int] = {}
    for p, g in zip(preds, gold, strict=True):
        if p.category != g:
            confusions[(g, p.category)] = confusions.get((g, p.category), 0) + 1
    return Report(
        total=len(rows),
        accuracy=sum(right) / len(rows) if rows else 0.0,
        macro_f1=sum(m["f1"] for m in present) / len(present) if present else 0.0,
        per_category=per,
        calibration=bins,
        high_confidence_share=len(confident) / len(preds) if preds else 0.0,
        high_confidence_precision=sum(right[i] for i in confident) / len(confident) if confident else 0.0,
        threshold=threshold,
        confusions=sorted(((g, p, n) for (g, p), n in confusions.items()), key=lambda x: -x[2]),
    )
