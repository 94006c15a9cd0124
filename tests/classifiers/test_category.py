"""The category model: features, training, calibration, evaluation; quality of the shipped model on dev."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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


def test_side_remarks_are_set_apart_when_the_message_names_its_main_problem() -> None:
    from classifiers.category.features import SIDE

    two = model_text(
        "", "Au 3 rue Oberkampf le lampadaire est éteint, c'est le plus urgent. Il y a aussi un tag au mur."
    )
    assert {"lampadaire", "eteint", "urgent"} <= set(two.split())
    assert {SIDE + "tag", SIDE + "mur"} <= set(two.split()) and "tag" not in two.split()
    assert "_lampa" in two.split() and not any(w.startswith("_" + SIDE) for w in two.split())  # no stem of a side word
    assert two.split().count("lampadaire") == 2  # the clause naming the main problem counts twice
    # a closing "mais c'est secondaire" speaks of the clause before it
    closing = model_text(
        "", "Un matelas est posé contre l'arbre. Et le pied de l'arbre est plein de mégots, mais c'est secondaire."
    )
    assert "matelas" in closing.split() and SIDE + "megots" in closing.split() and "megots" not in closing.split()
    # "pas urgent" is a side remark even though it says "urgent"; "1) … 2) …" are two sentences
    listed = model_text("", "1) URGENT : la poubelle a brûlé rue Baltard 2) pas urgent : une tranchée non protégée")
    assert "poubelle" in listed.split() and SIDE + "tranchee" in listed.split()
    # not side remarks: "au passage piéton", "aussi bien", a message that is all side remark, or the old features
    crossing = model_text("", "Au passage piéton du 4 rue de Rennes la bande blanche est effacée.")
    assert not any(w.startswith(SIDE) for w in crossing.split())
    assert not any(
        w.startswith(SIDE) for w in model_text("", "Des rats, aussi bien le soir que le matin, rue X.").split()
    )
    assert not any(w.startswith(SIDE) for w in model_text("", "Il y a aussi un tag.").split())
    plain = model_text("", "Le lampadaire est éteint, c'est le plus urgent. Il y a aussi un tag.", side_remarks=False)
    assert "tag" in plain.split() and not any(w.startswith(SIDE) for w in plain.split())


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
    assert report.high_confidence_share >= 0.6  # and it is not achieved by never being confident
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


def test_selective_curve_and_threshold_choice() -> None:
    from classifiers.category.evaluate import choose_threshold, selective_curve

    confidences = [0.99, 0.97, 0.97, 0.9, 0.8, 0.6]
    right = [True, True, True, False, True, False]
    curve = selective_curve(confidences, right)
    # ties pass together; coverage counts every report, accuracy only the passing ones
    assert [(p.threshold, round(p.coverage, 3), round(p.accuracy, 3)) for p in curve] == [
        (0.99, 0.167, 1.0),
        (0.97, 0.5, 1.0),
        (0.9, 0.667, 0.75),
        (0.8, 0.833, 0.8),
        (0.6, 1.0, 0.667),
    ]
    choice = choose_threshold(curve, target_accuracy=0.98, target_coverage=0.5)
    assert choice.met and choice.point is not None and choice.point.threshold == 0.97
    assert "MET at review_threshold 0.9700" in choice.render()
    short = choose_threshold(curve, target_accuracy=0.98, target_coverage=0.8)
    assert not short.met and short.point is not None and short.point.threshold == 0.97
    assert short.best_at_coverage is not None and short.best_at_coverage.threshold == 0.8
    assert "NOT MET" in short.render() and "at 80% passing: threshold 0.8000, 80.0% right" in short.render()
    never = choose_threshold(curve, target_accuracy=1.0, target_coverage=0.9)
    assert not never.met and never.point is not None and never.point.coverage == 0.5
    assert choose_threshold(selective_curve([0.9], [False])).point is None
    # an unusual text never passes, however confident
    odd = selective_curve([0.99, 0.5], [False, True], [True, False])
    assert [(p.coverage, p.accuracy) for p in odd] == [(0.5, 1.0)]


def test_threshold_chosen_with_a_margin() -> None:
    """Issue 14: the shipped threshold meets the accuracy target with statistical confidence (Wilson lower bound),
    not only as measured at the edge of one set's curve."""
    from classifiers.category.evaluate import choose_threshold, selective_curve, wilson_lower_bound

    # the one-sided Wilson bound: 98/100 right is >= 95.3 % at 90 % confidence, >= 94.1 % at 95 %
    assert round(wilson_lower_bound(98, 100, 0.90), 3) == 0.953
    assert round(wilson_lower_bound(98, 100, 0.95), 3) == 0.941
    assert wilson_lower_bound(0, 0, 0.95) == 0.0 and wilson_lower_bound(5, 5, 0.95) < 1.0
    # 400 reports: the 300 most confident all right, then 100 with one error in 12 (8 errors in all)
    confidences = [1.0 - i / 1000 for i in range(400)]
    right = [True] * 300 + [i % 12 != 5 for i in range(100)]
    curve = selective_curve(confidences, right)
    edge = choose_threshold(curve, target_accuracy=0.98, target_coverage=0.7)
    assert edge.point is not None and (edge.point.passed, edge.point.correct) == (400, 392)  # 98.0 % as measured
    margin = choose_threshold(curve, target_accuracy=0.98, target_coverage=0.7, confidence=0.95)
    assert margin.point is not None and (margin.point.passed, margin.point.correct) == (329, 327)
    assert margin.point.lower_bound(0.95) >= 0.98 > edge.point.lower_bound(0.95)
    one_more = next(p for p in curve if p.passed == 330)  # the next error: the bound falls under the target
    assert one_more.correct == 327 and one_more.lower_bound(0.95) < 0.98
    assert margin.met and margin.edge == edge.point
    shown = margin.render()
    assert "no margin): 0.6010 (100.0% passing, 98.0% right, lower bound 96.5%)" in shown
    assert f"MET at review_threshold {margin.point.threshold:.4f}" in shown and "with 95% confidence" in shown
    # too few reports to be sure of 98 %: no threshold meets it with confidence, though some do as measured
    few = choose_threshold(selective_curve([0.9, 0.8], [True, True]), confidence=0.95)
    assert few.point is None and not few.met and few.edge is not None and "NOT MET" in few.render()


def test_unusual_texts_have_no_marking_word() -> None:
    from classifiers.category.vocabulary import is_unusual, marking_words

    rows = _rows()
    words = marking_words(rows)
    assert {"lampadaire", "tags"} <= words and "bonjour" not in words and "le" not in words
    assert is_unusual("", "Bonjour, qxz blorf.", words)
    assert not is_unusual("", "Bonjour, le lampadaire", words)
    assert not is_unusual("", "Bonjour, qxz blorf.", set())  # a model saved without words never says unusual


def test_unusual_predictions_do_not_pass_evaluation() -> None:
    rows = [Labelled(str(i), "email", "", "", g) for i, g in enumerate("aab")]

    class Odd(_Fixed):
        def predict_many(self, items: list[tuple[str, str]]) -> list[Prediction]:
            return [
                Prediction("a", 0.99, {"a": 0.99}),
                Prediction("a", 0.95, {"a": 0.95}, unusual=True),
                Prediction("a", 0.97, {"a": 0.97}),
            ]

    report = evaluate(Odd([]), rows, threshold=0.9)  # type: ignore[arg-type]
    assert report.high_confidence_share == 2 / 3 and report.high_confidence_precision == 0.5
    assert [round(p.coverage, 3) for p in report.curve] == [0.333, 0.667]
    assert "coverage/accuracy curve" in report.render() and "NOT MET" in report.render()


def test_calibration_on_messages_apart_and_unusual_words_saved(tmp_path: Path) -> None:
    rows = _rows()
    calibration = [
        Labelled("c1", "sms", "", "la lumière de la rue est éteinte", "eclairage"),
        Labelled("c2", "sms", "", "un tag sur la porte de l'école", "graffitis"),
        Labelled("c3", "sms", "", "quels sont vos horaires d'ouverture", "autre"),
    ]
    model = train(rows, labels=["eclairage", "graffitis", "autre"], epochs=4, length=2**14, calibration=calibration)
    assert model.meta["calibrated_on"] == "3 calibration messages written apart from training"
    assert model.meta["examples"] == 75 and model.meta["seed"] == 7
    model.save(tmp_path / "m")
    loaded = CategoryModel.load(tmp_path / "m")
    assert loaded.temperature == model.temperature and loaded.words == model.words and loaded.words
    assert loaded.predict("", "qxz blorf trumple").unusual
    assert not loaded.predict("Panne", "le lampadaire ne s'allume plus").unusual
    held_out = train(rows, labels=["eclairage", "graffitis", "autre"], epochs=4, length=2**14)
    assert held_out.meta["calibrated_on"].endswith("training messages held out (12%)")
    assert loaded.side_remarks and loaded.meta["features"] == "side_remarks"
    assert loaded.length_exponent == model.length_exponent == model.meta["length_exponent"]
    assert loaded.vectors is not None and loaded.vector_weight == model.vector_weight == model.meta["vector_weight"]
    assert loaded.bias == model.bias == model.meta["class_bias"] and set(model.bias) == {
        "eclairage",
        "graffitis",
        "autre",
    }
    plain = train(rows, labels=["eclairage", "graffitis", "autre"], epochs=4, length=2**14, vectors=False)
    assert plain.vectors is None and plain.vector_weight == 0.0
    unbiased = train(rows, labels=["eclairage", "graffitis", "autre"], epochs=4, length=2**14, class_bias=False)
    assert unbiased.bias == {} and unbiased.meta["class_bias"] == {}


def test_class_bias_lowers_a_category_read_too_often() -> None:
    """Issue 14: a category the bag of words reads too often on messages written apart (voirie, the catch-all)
    gets a negative bias, fitted on the calibration messages, so it passes the review threshold less easily."""
    from classifiers.category.model import REFERENCE_TOKENS, _class_bias

    leaning = {"voirie": 0.7, "vegetaux": 0.2, "autre": 0.1}
    # the model says voirie for all 10, but only 4 are: the other 6 are vegetaux
    probabilities = [leaning] * 10
    gold = ["voirie"] * 4 + ["vegetaux"] * 6
    bias = _class_bias(probabilities, gold, [REFERENCE_TOKENS] * 10, None, (1.0, 0.0, 0.0))
    assert bias["voirie"] < 0 < bias["vegetaux"] and bias["autre"] < 0  # autre: never right here
    right = _class_bias(
        probabilities, ["voirie"] * 7 + ["vegetaux"] * 2 + ["autre"], [REFERENCE_TOKENS] * 10, None, (1.0, 0.0, 0.0)
    )
    assert all(abs(v) < 0.05 for v in right.values())  # already calibrated: (almost) no bias


def test_word_vectors_give_an_opinion_on_words_no_training_message_has(tmp_path: Path) -> None:
    from classifiers.category.vectors import WordVectors, fit, package_table

    rows = _rows()
    texts = [model_text(r.subject, r.text) for r in rows]
    vectors = fit(texts, [r.category for r in rows], ["eclairage", "graffitis", "autre"])
    trained = {w for t in texts for w in t.split()}
    assert "lanterne" not in trained and "lanterne" in vectors.rows  # folded keys of the package's table
    assert float(abs(vectors.embed("lanterne eteinte")).sum()) > 0 and not vectors.embed("qxz blorf").any()
    opinion = vectors.log_probabilities(model_text("", "la lanterne du réverbère ne s'allume plus"))
    assert max(opinion, key=lambda k: opinion[k]) == "eclairage"
    vectors.save(tmp_path)
    again = WordVectors.load(tmp_path)
    assert again is not None and again.labels == vectors.labels and len(again.rows) == len(vectors.rows)
    reread = again.log_probabilities(model_text("", "la lanterne du réverbère ne s'allume plus"))
    assert all(abs(reread[k] - opinion[k]) < 1e-4 for k in opinion)
    assert WordVectors.load(tmp_path / "absent") is None  # a model saved without vectors
    with pytest.raises(RuntimeError, match="n'est pas installé"):
        package_table("paquet_de_vecteurs_absent")


def test_the_reduced_vector_table_is_kept_between_trainings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`guichet train` read the package's 500,000 strings every time (~11 s of CPU); the reduced table is kept in
    the cache folder and read back identical, and a damaged cache file is computed again."""
    from classifiers.category import vectors

    monkeypatch.setenv("GUICHET_CACHE", str(tmp_path))
    vectors.package_table.cache_clear()
    try:
        rows, matrix = vectors.package_table()
        [kept] = tmp_path.glob("vectors-*.npz")
        vectors.package_table.cache_clear()

        def not_again(vocab: Path) -> Any:
            raise AssertionError("the table was computed again instead of read from the cache")

        monkeypatch.setattr(vectors, "_reduce", not_again)
        again_rows, again_matrix = vectors.package_table()
        assert again_rows == rows and list(again_rows) == list(rows)  # same words, same order (the first spelling wins)
        assert again_matrix.dtype == matrix.dtype and (again_matrix == matrix).all()
        kept.write_bytes(b"not a numpy archive")
        vectors.package_table.cache_clear()
        small = ({"lanterne": 0}, matrix[:1])
        monkeypatch.setattr(vectors, "_reduce", lambda vocab: small)
        assert vectors.package_table() == small  # the damaged file is ignored, then replaced
        assert kept.read_bytes() != b"not a numpy archive"
    finally:
        vectors.package_table.cache_clear()


def test_length_aware_temperature() -> None:
    """A bag of words grows surer with every word: the fitted temperature grows with the message's length when
    long messages are the over-confident ones, and stays one temperature when length says nothing."""
    from classifiers.category.model import REFERENCE_TOKENS, _temperature

    sure = {"a": 0.999, "b": 0.001}
    # long messages: extreme scores, right only 3 times out of 5; short ones: mild scores, right 4 times out of 5
    probabilities = [sure] * 5 + [{"a": 0.8, "b": 0.2}] * 5
    gold = ["a", "a", "a", "b", "b"] + ["a", "a", "a", "a", "b"]
    tokens = [8 * REFERENCE_TOKENS] * 5 + [REFERENCE_TOKENS // 4] * 5
    temperature, exponent, weight = _temperature(probabilities, gold, tokens)
    assert exponent > 0 and weight == 0.0  # no vectors' opinion given: none weighed
    alike = _temperature(probabilities, gold, [REFERENCE_TOKENS] * 10)
    assert alike[1] == 0.0  # every message the same length: the exponent has nothing to fit
    assert 0.1 <= temperature <= 4.0


def test_a_model_saved_before_side_remarks_reads_every_word_alike(tmp_path: Path) -> None:
    import json
    import shutil

    folder = tmp_path / "old"
    shutil.copytree(DEFAULT_MODEL_DIR, folder)
    calibration = folder / "guichet_calibration.json"
    meta = json.loads(calibration.read_text())
    for key in ("features", "length_exponent", "vector_weight", "class_bias"):
        meta.pop(key, None)
    calibration.write_text(json.dumps(meta))
    (folder / "guichet_vectors.npz").unlink(missing_ok=True)
    old = CategoryModel.load(folder)
    assert not old.side_remarks and old.length_exponent == 0.0 and old.vectors is None and old.vector_weight == 0.0
    assert old.bias == {}  # a model saved before the bias per category: none added
    text = "Le lampadaire est éteint, c'est le plus urgent. Il y a aussi un tag sur le mur."
    assert old.features("", text) == model_text("", text, side_remarks=False)


def test_shipped_model_selective_accuracy_on_the_unseen_set() -> None:
    """Issue 14: on messages of a writer who never saw the training data, the shipped review threshold is the one
    `guichet evaluate` chooses from the coverage/accuracy curve, and what passes it is right >= 98 % of the time."""
    from classifiers.category.data import unseen_dev_file
    from intake.config import load_config

    model = CategoryModel.load(DEFAULT_MODEL_DIR)
    rows = load_jsonl(unseen_dev_file())
    assert len(rows) == 417
    train_rows = [r for p in training_files() for r in load_jsonl(p)]
    assert not {r.id for r in train_rows} & {r.id for r in rows}
    assert not {r.source_row for r in train_rows if r.source_row} & {r.source_row for r in rows if r.source_row}
    shipped = load_config(Path(__file__).resolve().parents[2] / "config.yaml").classifier.review_threshold
    report = evaluate(model, rows, threshold=shipped)
    print(report.render())
    assert report.choice is not None and report.choice.point is not None and report.choice.confidence == 0.95
    assert round(report.choice.point.threshold, 4) == shipped  # config.yaml's threshold comes from this curve
    # chosen with a margin: >= 98 % right with 95 % confidence (Wilson lower bound), not only as measured
    assert report.choice.point.lower_bound(0.95) >= 0.98 and report.high_confidence_precision >= 0.99
    assert report.high_confidence_share >= 0.85  # measured 85.6 % passing, 99.4 % right (issue 14: >= 80 %)
    assert report.macro_f1 >= 0.955  # measured 0.957 (issue 14 asks 0.95, see UNSEEN_DEV.md)


def test_shipped_model_on_the_test_set() -> None:
    """unseen_test2.jsonl: a writer who saw no training or development file; looked at once, after the model and
    the review threshold were frozen (UNSEEN_TEST2.md). These are the figures measured then, kept from sliding."""
    from classifiers.category.data import unseen_dev_file, unseen_test_file
    from intake.config import load_config

    model = CategoryModel.load(DEFAULT_MODEL_DIR)
    rows = load_jsonl(unseen_test_file())
    assert len(rows) == 420
    others = (
        [r for p in training_files() for r in load_jsonl(p)] + load_jsonl(dev_file()) + load_jsonl(unseen_dev_file())
    )
    assert not {r.id for r in others} & {r.id for r in rows}
    assert not {r.source_row for r in others if r.source_row} & {r.source_row for r in rows if r.source_row}
    shipped = load_config(Path(__file__).resolve().parents[2] / "config.yaml").classifier.review_threshold
    report = evaluate(model, rows, threshold=shipped)
    print(report.render())
    assert report.accuracy >= 0.94 and report.macro_f1 >= 0.94  # measured 0.940 and 0.940
    assert report.high_confidence_share >= 0.859  # measured 85.95 % passing (361 of 420)...
    assert report.high_confidence_precision >= 0.98  # ...98.3 % right: issue 14's target, on this writer too
