"""Measuring the category model on the development set: P/R/F1 per category, macro-F1, calibration, and the
coverage/accuracy curve of the review threshold (selective accuracy).

A report "passes" when its confidence is at least `classifier.review_threshold` and its text is not unusual
(vocabulary.py); the others wait for an agent. The target of issue 14: among passing reports at least 98 %
right, with at least 80 % of reports passing. `selective_curve` gives, for every candidate threshold, the share
that passes (coverage) and their accuracy; `choose_threshold` the lowest threshold that meets the accuracy target.

A threshold read at the edge of one set's curve meets the target on that set only by a hair: on another writer's
messages it let 96.9 % right pass, not 98 % (UNSEEN_TEST2.md). So the shipped threshold is chosen with a margin:
the lowest one at which the one-sided Wilson lower bound of the passing reports' accuracy, at `CONFIDENCE`, still
reaches the target (with ~350 passing reports, about one error in 120 instead of one in 50).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

from classifiers.category.data import Labelled
from classifiers.category.model import CategoryModel

CONFIDENCE = 0.95  # statistical confidence that the passing reports' accuracy reaches the target (one-sided)


@dataclass
class Report:
    """Figures of one evaluation run."""

    total: int
    accuracy: float
    macro_f1: float
    per_category: dict[str, dict[str, float]]
    calibration: list[dict[str, float]] = field(default_factory=list)
    high_confidence_share: float = 0.0  # share of messages with confidence >= threshold
    high_confidence_precision: float = 0.0  # accuracy among them (target >= threshold)
    threshold: float = 0.9
    confusions: list[tuple[str, str, int]] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)
    choice: ThresholdChoice | None = None

    def render(self) -> str:
        """A plain-text table for the console and the issue notes."""
        lines = [f"{'category':<24}{'P':>7}{'R':>7}{'F1':>7}{'n':>6}"]
        for name, m in sorted(self.per_category.items()):
            if not m["support"] and not m["precision"]:
                continue  # absent from this set and never predicted
            lines.append(f"{name:<24}{m['precision']:>7.3f}{m['recall']:>7.3f}{m['f1']:>7.3f}{int(m['support']):>6}")
        lines.append(f"accuracy {self.accuracy:.3f}   macro-F1 {self.macro_f1:.3f}   ({self.total} messages)")
        lines.append(
            f"confidence >= {self.threshold}: {self.high_confidence_share:.1%} of messages, "
            f"{self.high_confidence_precision:.1%} of them right"
        )
        lines.append("calibration (confidence bin: share of messages, accuracy):")
        for b in self.calibration:
            lines.append(f"  [{b['low']:.1f}, {b['high']:.1f}): {b['share']:.1%}, accuracy {b['accuracy']:.1%}")
        if self.confusions:
            lines.append(
                "most frequent confusions (gold -> predicted: n): "
                + ", ".join(f"{g}->{p}: {n}" for g, p, n in self.confusions[:8])
            )
        if self.curve:
            lines.append("coverage/accuracy curve (review threshold: share of reports passing, accuracy among them):")
            for point in _milestones(self.curve):
                lines.append(f"  >= {point.threshold:.4f}: {point.coverage:6.1%} passing, {point.accuracy:6.1%} right")
        if self.choice is not None:
            lines.append(self.choice.render())
        return "\n".join(lines)


@dataclass(frozen=True)
class CurvePoint:
    """Reports passing a review threshold: their share of all reports and their accuracy."""

    threshold: float
    coverage: float
    accuracy: float
    passed: int = 0  # reports at or above the threshold
    correct: int = 0  # of them, right

    def lower_bound(self, confidence: float) -> float:
        """One-sided Wilson score lower bound of the passing reports' accuracy at `confidence` (e.g. 0.95)."""
        return wilson_lower_bound(self.correct, self.passed, confidence)


def wilson_lower_bound(correct: int, total: int, confidence: float) -> float:
    """The one-sided Wilson score lower bound of a proportion `correct`/`total` at `confidence` (0 when empty)."""
    if total <= 0:
        return 0.0
    z = NormalDist().inv_cdf(confidence)
    share = correct / total
    centre = share + z * z / (2 * total)
    spread = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    return (centre - spread) / (1 + z * z / total)


@dataclass(frozen=True)
class ThresholdChoice:
    """The threshold that meets the selective-accuracy target, or the best trade-off when none does."""

    target_accuracy: float
    target_coverage: float
    met: bool  # both targets reached
    point: CurvePoint | None  # the lowest threshold with accuracy >= target (None: no threshold reaches it)
    best_at_coverage: CurvePoint | None  # the point reaching the target coverage, for the trade-off
    confidence: float | None = None  # the accuracy target is met by the lower bound at this confidence (None: as seen)
    edge: CurvePoint | None = None  # with `confidence`: the lowest threshold whose observed accuracy meets the target

    def render(self) -> str:
        """Lines for the console: the threshold to ship, or why none meets the target."""
        goal = f"target: >= {self.target_accuracy:.0%} right with >= {self.target_coverage:.0%} passing"
        if self.confidence is not None:
            goal += f" (lower bound at {self.confidence:.0%} confidence)"
        lines = []
        if self.confidence is not None and self.edge is not None:
            e = self.edge
            lines.append(
                f"lowest threshold with >= {self.target_accuracy:.0%} right as measured (no margin): {e.threshold:.4f} "
                f"({e.coverage:.1%} passing, {e.accuracy:.1%} right, lower bound {e.lower_bound(self.confidence):.1%})"
            )
        if self.met and self.point is not None:
            return "\n".join(
                [*lines, f"{goal}: MET at review_threshold {self.point.threshold:.4f} ({self._figures()})"]
            )
        parts = [f"{goal}: NOT MET by any threshold"]
        if self.point is not None:
            p = self.point
            parts.append(
                f"highest coverage at >= {self.target_accuracy:.0%} right: threshold "
                f"{p.threshold:.4f} ({self._figures()})"
            )
        if self.best_at_coverage is not None:
            b = self.best_at_coverage
            parts.append(f"at {self.target_coverage:.0%} passing: threshold {b.threshold:.4f}, {b.accuracy:.1%} right")
        return "\n".join([*lines, "; ".join(parts)])

    def _figures(self) -> str:
        assert self.point is not None
        p = self.point
        figures = f"{p.coverage:.1%} passing, {p.accuracy:.1%} right"
        if self.confidence is not None:
            figures += f", >= {p.lower_bound(self.confidence):.1%} with {self.confidence:.0%} confidence"
        return figures


def selective_curve(confidences: list[float], right: list[bool], unusual: list[bool] | None = None) -> list[CurvePoint]:
    """For every distinct confidence taken as the threshold (highest first), the coverage and accuracy of the
    reports at or above it; unusual texts never pass."""
    flags = unusual or [False] * len(confidences)
    n = len(confidences)
    order = sorted((c, ok) for c, ok, odd in zip(confidences, right, flags, strict=True) if not odd)
    order.reverse()
    points: list[CurvePoint] = []
    passed = correct = 0
    for i, (confidence, ok) in enumerate(order):
        passed += 1
        correct += ok
        if i + 1 < len(order) and order[i + 1][0] == confidence:
            continue  # ties pass or fail together
        points.append(CurvePoint(confidence, passed / n, correct / passed, passed, correct))
    return points


def choose_threshold(
    curve: list[CurvePoint],
    *,
    target_accuracy: float = 0.98,
    target_coverage: float = 0.80,
    confidence: float | None = None,
) -> ThresholdChoice:
    """The lowest threshold whose passing reports are at least `target_accuracy` right (most coverage); with
    `confidence`, right with that statistical confidence (the Wilson lower bound reaches the target), not only as
    measured on this set."""
    meeting = [p for p in curve if p.accuracy >= target_accuracy]
    edge = max(meeting, key=lambda p: p.coverage) if meeting else None
    if confidence is not None:
        meeting = [p for p in meeting if p.lower_bound(confidence) >= target_accuracy]
    point = max(meeting, key=lambda p: p.coverage) if meeting else None
    at_coverage = next((p for p in curve if p.coverage >= target_coverage), None)
    met = point is not None and point.coverage >= target_coverage
    return ThresholdChoice(
        target_accuracy, target_coverage, met, point, at_coverage, confidence, edge if confidence is not None else None
    )


def _milestones(curve: list[CurvePoint]) -> list[CurvePoint]:
    """About one point per 5 % of coverage, for printing."""
    out: list[CurvePoint] = []
    for point in curve:
        if not out or point.coverage - out[-1].coverage >= 0.05 or point is curve[-1]:
            out.append(point)
    return out


def evaluate(
    model: CategoryModel,
    rows: list[Labelled],
    *,
    threshold: float = 0.9,
    target_accuracy: float = 0.98,
    target_coverage: float = 0.80,
    confidence: float | None = CONFIDENCE,
) -> Report:
    """Evaluate `model` on labelled rows it was never trained on; the threshold is chosen with `confidence` in the
    accuracy target (None: at the edge of this set's curve)."""
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
            bins.append(
                {
                    "low": low,
                    "high": min(high, 1.0),
                    "share": len(idx) / len(preds),
                    "accuracy": sum(right[i] for i in idx) / len(idx),
                }
            )
    confident = [i for i, p in enumerate(preds) if p.confidence >= threshold and not p.unusual]
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
        curve=(curve := selective_curve([p.confidence for p in preds], right, [p.unusual for p in preds])),
        choice=choose_threshold(
            curve, target_accuracy=target_accuracy, target_coverage=target_coverage, confidence=confidence
        )
        if preds
        else None,
    )
