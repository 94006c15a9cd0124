"""The category model: features, training, calibration, evaluation; quality of the shipped model on dev."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifiers.category.data import Labelled, dev_file, load_jsonl, training_files
from classifiers.category.evaluate import evaluate
from classifiers.category.features import model_text
from classifiers.category.model import DEFAULT_MODEL_DIR, CategoryModel, Prediction, train
from classifiers.text import strip_accents as fold


def test_fold_and_model_text() -> None:
    assert fold("Éclairage ŒUVRE à Noël") == "eclairage oeuvre a noel"
    text = model_text("Lampadaire", "Le LAMPADÈRE est cassé !")
    assert text.split()[:5] == ["lampadaire", "le", "lampadere", "est", "casse"]
    assert "_lampa" in text.split()  # stems make typos meet


def _rows() -> list[Labelled]:
    rows = [r for path in training_files() for r in load_jsonl(path)]
    # A small, fast subset: 25 examples of three categories.
    out: list[Labelled] = []
    for cat in ("eclairage", "graffitis", "autre"):
        out += [r for r in rows if r.category == cat][:25]
    return out


def test_train_save_load_predict(tmp_path: Path) -> None:
    model = train(_rows(), labels=["eclairage", "graffitis", "autre"], epochs=4, length=2**14)
    assert 0.1 <= model.temperature <= 4.0
    model.save(tmp_path / "m")
    loaded = CategoryModel.load(tmp_path / "m")
    pred = loaded.predict("Panne", "le lampadaire devant chez moi ne s'allume plus depuis lundi")
    assert isinstance(pred, Prediction) and pred.category == "eclairage"
    assert abs(sum(pred.scores.values()) - 1) < 1e-6 and pred.confidence == max(pred.scores.values())
    assert loaded.meta["examples"] == 75


def test_load_missing_model_is_clear(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="guichet train"):
        CategoryModel.load(tmp_path)


class _Fixed:
    """A stand-in model with known predictions, to check the arithmetic of evaluate()."""

    labels = ["a", "b"]

    def __init__(self, preds: list[tuple[str, float]]) -> None:
        self.preds = preds

    def predict_many(self, items: list[tuple[str, str]]) -> list[Prediction]:
        return [Prediction(c, p, {c: p}) for c, p in self.preds]


def test_evaluate_arithmetic() -> None:
    rows = [Labelled(str(i), "email", "", "", g) for i, g in enumerate("aaab")]
    model = _Fixed([("a", 0.95), ("a", 0.95), ("b", 0.6), ("b", 0.92)])
    report = evaluate(model, rows)  # type: ignore[arg-type]
    assert report.per_category["a"] == {"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3.0}
    assert report.per_category["b"]["precision"] == 0.5 and report.per_category["b"]["recall"] == 1.0
    assert report.accuracy == 0.75
    assert report.high_confidence_share == 0.75 and report.high_confidence_precision == 1.0


def test_shipped_model_quality_on_the_development_set() -> None:
    """The versioned model generalises to messages written by another hand, and its confidence means it."""
    model = CategoryModel.load(DEFAULT_MODEL_DIR)
    rows = load_jsonl(dev_file())
    assert len(rows) == 550
    train_ids = {r.id for p in training_files() for r in load_jsonl(p)}
    assert not train_ids & {r.id for r in rows}
    report = evaluate(model, rows, threshold=0.9)
    print(report.render())
    assert report.macro_f1 >= 0.90
    assert report.high_confidence_precision >= 0.90  # calibration: >= 0.9 confidence is right >= 90% of the time
    assert report.high_confidence_share >= 0.6       # and it is not achieved by never being confident
    assert min(m["f1"] for m in report.per_category.values() if m["support"]) >= 0.8


def test_a_model_is_loaded_once_until_its_files_change(tmp_path: Path) -> None:
    import json
    import os
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    first = CategoryModel.load(folder)
    assert CategoryModel.load(tmp_path / "." / "m") is first  # same folder, however it is written
    calibration = folder / "guichet_calibration.json"
    meta = json.loads(calibration.read_text())
    calibration.write_text(json.dumps({**meta, "temperature": meta["temperature"] + 1.0}))
    stat = calibration.stat()
    os.utime(calibration, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # even on a coarse clock
    second = CategoryModel.load(folder)
    assert second is not first and second.temperature == first.temperature + 1.0
    assert CategoryModel.load(folder) is second
