"""`guichet train --dry-run`: the candidate trained with the agents' corrections, compared with the model in use on
the development sets, in French, and nothing written in the shipped model's directory."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from classifiers.category.data import Labelled, load_jsonl
from classifiers.category.evaluate import evaluate
from classifiers.category.model import DEFAULT_MODEL_DIR, CategoryModel, train
from intake.cli.retrain import dev_sets
from intake.config import Config
from intake.reports.corrections import reclassify
from intake.runtime.db import make_engine, make_sessionmaker
from tests.conftest import write_config
from tests.support.cli import run_guichet
from tests.test_stats import make_report

TRAIN = [
    ("lampadaire éteint depuis hier soir", "eclairage"),
    ("la lampe du réverbère est grillée", "eclairage"),
    ("tag sur le mur de l'école", "graffitis"),
    ("graffiti sur la porte du garage", "graffitis"),
    ("quels sont les horaires de la mairie", "autre"),
    ("je voudrais un acte de naissance", "autre"),
    ("nid de poule dans la chaussée", "voirie"),
    ("trou dans la route devant chez moi", "voirie"),
    ("poubelles qui débordent sur le trottoir", "proprete"),
    ("déchets partout dans la rue", "proprete"),
]
DEV = [
    ("le lampadaire ne s'allume plus", "eclairage"),
    ("un gros trou dans la rue", "voirie"),
    ("des tags sur la façade", "graffitis"),
    ("sacs de gravats abandonnés sur le trottoir", "objets_abandonnes"),
    ("horaires d'ouverture samedi", "autre"),
    ("ordures éparpillées devant l'immeuble", "proprete"),
]
TEST = [("réverbère en panne", "eclairage"), ("gravats déposés devant le 3 rue de Charonne", "objets_abandonnes")]
CORRECTED = "Des sacs de gravats abandonnés devant le 3 rue de Charonne"


def _jsonl(path: Path, prefix: str, rows: list[tuple[str, str]]) -> None:
    path.write_text(
        "\n".join(
            json.dumps(
                {"id": f"{prefix}{i}", "channel": "sms", "subject": "", "text": text, "category": category},
                ensure_ascii=False,
            )
            for i, (text, category) in enumerate(rows)
        )
        + "\n",
        encoding="utf-8",
    )


def _tree(directory: Path) -> dict[str, str]:
    """Every file under `directory` with the SHA-256 of its bytes."""
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_guichet(args, env=env, timeout=600)


def _fr(value: float) -> str:
    return f"{value:.3f}".replace(".", ",")


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %".replace(".", ",")


def _setup(make_config: Callable[..., Config], tmp_path: Path) -> tuple[Config, dict[str, str], Path]:
    """A configuration whose database holds one agent's correction, and a data folder with dev and test sets
    (no unseen_dev.jsonl)."""
    cfg = make_config()
    engine = make_engine(cfg.sqlalchemy_url)
    with make_sessionmaker(engine)() as s, s.begin():
        report = make_report(
            s,
            config=cfg,
            created=datetime(2024, 6, 2, tzinfo=UTC),
            category="proprete",
            subject="",
            description=CORRECTED,
        )
        reclassify(s, cfg, report, "objets_abandonnes", actor="agent.dupont")
    engine.dispose()  # no connection left open behind the test (PostgreSQL: a ResourceWarning)
    env = {**os.environ, "GUICHET_CONFIG": str(write_config(cfg, tmp_path / "config.yaml"))}
    data = tmp_path / "training"
    data.mkdir()
    _jsonl(data / "train_tiny.jsonl", "t", TRAIN)
    _jsonl(data / "dev.jsonl", "dev-", DEV)
    _jsonl(data / "unseen_test2.jsonl", "test-", TEST)
    return cfg, env, data


def test_dry_run_compares_both_models_and_writes_nothing(make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg, env, data = _setup(make_config, tmp_path)
    shipped, folder = _tree(DEFAULT_MODEL_DIR), _tree(data)
    proc = _cli(env, "train", "--dry-run", "--data", str(data), "--epochs", "2", "--exemples", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _tree(DEFAULT_MODEL_DIR) == shipped  # byte-identical, no file added or removed
    assert _tree(data) == folder
    out = proc.stdout
    assert "1 correction(s) des agents ajoutée(s) à l'entraînement" in out
    assert f"modèle actuel : {DEFAULT_MODEL_DIR}" in out and "candidat : 11 exemples, 2 époques, graine 7" in out
    assert "aucun modèle n'a été enregistré" in out
    assert "absent(s) de" in out and "non évalué(s) : unseen_dev.jsonl" in out
    assert [name for name, _ in dev_sets(data)] == ["dev.jsonl", "unseen_test2.jsonl"]

    # The same figures, measured here apart: the shipped model, and the candidate trained on the same rows
    # (training is deterministic for a seed) with the correction last, as `guichet train` gathers them.
    current = CategoryModel.load(DEFAULT_MODEL_DIR)
    rows = load_jsonl(data / "train_tiny.jsonl")
    rows.append(Labelled(id="correction", channel="email", subject="", text=CORRECTED, category="objets_abandonnes"))
    candidate = train(rows, labels=[c.code for c in cfg.categories], epochs=2, seed=7)
    threshold = cfg.classifier.review_threshold
    sections = out.split("== ")[1:]
    assert [s.split(" ", 1)[0] for s in sections] == ["dev.jsonl", "unseen_test2.jsonl"]
    for section, name in zip(sections, ("dev.jsonl", "unseen_test2.jsonl"), strict=True):
        gold = load_jsonl(data / name)
        assert section.startswith(f"{name} ({len(gold)} messages) : modèle actuel → candidat ==")
        before, after = evaluate(current, gold, threshold=threshold), evaluate(candidate, gold, threshold=threshold)
        f1 = (
            f"{_fr(before.macro_f1)} → {_fr(after.macro_f1)}"
            if _fr(before.macro_f1) != _fr(after.macro_f1)
            else f"{_fr(before.macro_f1)} (inchangé)"
        )
        assert f"ensemble : macro-F1 {f1}\n" in section
        assert f"ensemble : exactitude {_pct(before.accuracy)}" in section
        old = current.predict_many([(r.subject, r.text) for r in gold])
        new = candidate.predict_many([(r.subject, r.text) for r in gold])
        sure = sum(p.confidence >= threshold for p in old) / len(gold)
        assert f"transmis sans revue {_pct(sure)}" in section
        changed = [(r, o, n) for r, o, n in zip(gold, old, new, strict=True) if o.category != n.category]
        if changed:
            assert f"{len(changed)} message(s) changeraient de catégorie prédite" in section
            first, o, n = changed[0]
            assert re.search(
                rf"  {first.id} « .+ » attendu {first.category} : {o.category} \(.+\) → {n.category}", section
            )
            assert (f"… et {len(changed) - 1} autre(s)" in section) == (len(changed) > 1)  # --exemples 1
        else:
            assert "aucun message ne changerait de catégorie prédite" in section
        # per category, over the messages of that category: the eclairage line of the shipped model
        eclairage = [(r, p) for r, p in zip(gold, old, strict=True) if r.category == "eclairage"]
        right = sum(p.category == "eclairage" for _, p in eclairage) / len(eclairage)
        line = next(x for x in section.splitlines() if x.startswith("eclairage "))
        assert line.split()[1] == str(len(eclairage)) and f"{_pct(right)} →" in line
    # a tiny candidate differs from the shipped model somewhere on these sets
    assert "changeraient de catégorie prédite" in out


def test_dry_run_refuses_an_output_and_a_missing_model(make_config: Callable[..., Config], tmp_path: Path) -> None:
    cfg, env, data = _setup(make_config, tmp_path)
    both = _cli(env, "train", "--dry-run", "--output", str(tmp_path / "model"), "--data", str(data))
    assert both.returncode == 2 and "--dry-run n'enregistre aucun modèle" in both.stderr
    assert not (tmp_path / "model").exists() and "Traceback" not in both.stderr
    empty = tmp_path / "empty-model"
    empty.mkdir()
    env["GUICHET_CONFIG"] = str(write_config(make_config(classifier={"model": str(empty)}), tmp_path / "other.yaml"))
    missing = _cli(env, "train", "--dry-run", "--data", str(data), "--epochs", "1")
    assert missing.returncode == 1 and f"aucun modèle entraîné dans {empty}" in missing.stderr
    assert "Traceback" not in missing.stderr and list(empty.iterdir()) == []
