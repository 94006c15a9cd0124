"""`guichet` subcommands of understanding: import-addresses, train, evaluate, analyze, reprocess."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from intake.cli.common import examples, load
from intake.config import Config, ConfigError


def cmd_import_addresses(args: argparse.Namespace) -> int:
    """Import an official address file (BAN csv, BAL 1.3, addok ndjson) into the database."""
    from intake.geocoding.reference import import_file
    from intake.runtime.db import make_engine, make_sessionmaker, migrate

    cfg = load(args)
    migrate(cfg.sqlalchemy_url)
    factory = make_sessionmaker(make_engine(cfg.sqlalchemy_url))
    citycodes = set(args.citycode) if args.citycode else set(cfg.town.insee_codes)
    status = 0
    for name in args.files:
        path = Path(name)
        if not path.is_file():
            print(f"{name} : fichier introuvable", file=sys.stderr)
            status = 1
            continue
        report = import_file(factory, path, citycodes=citycodes)
        print(f"{name} : {report.summary()}")
    return status


def _training_rows(cfg: Config, *, with_corrections: bool, data_dir: Path | None) -> list[Any]:
    from classifiers.category.data import TRAINING_DIR, Labelled, load_jsonl, training_files

    rows = [row for path in training_files(data_dir or TRAINING_DIR) for row in load_jsonl(path)]
    if with_corrections:
        from sqlalchemy import select

        from intake.models import Correction
        from intake.runtime.db import make_engine, make_sessionmaker

        engine = make_engine(cfg.sqlalchemy_url)
        factory = make_sessionmaker(engine)
        with factory() as session:
            corrections = (
                session.execute(select(Correction).where(Correction.field == "category").order_by(Correction.id))
                .scalars()
                .all()
            )
        engine.dispose()  # the command goes on for minutes (training): no connection left open meanwhile
        # The latest correction of a report wins; a town's own vocabulary joins the shipped examples.
        latest = {c.report_id: c for c in corrections}
        rows += [
            Labelled(
                id=f"correction-{c.id}",
                channel=c.channel,
                subject=c.subject,
                text=c.text,
                category=c.new_value or "autre",
            )
            for c in latest.values()
        ]
        print(f"{len(latest)} correction(s) des agents ajoutée(s) à l'entraînement")
    return rows


def cmd_train(args: argparse.Namespace) -> int:
    """Train the category model from the shipped data (and agents' corrections) and save it."""
    from classifiers.category.data import dev_file, load_jsonl
    from classifiers.category.model import DEFAULT_MODEL_DIR, train

    cfg = load(args)
    if args.dry_run and args.output:
        print("guichet : --dry-run n'enregistre aucun modèle, --output est sans objet", file=sys.stderr)
        return 2
    data_dir = Path(args.data) if args.data else None
    rows = _training_rows(cfg, with_corrections=not args.no_corrections, data_dir=data_dir)
    labels = [c.code for c in cfg.categories]
    unknown = sorted({r.category for r in rows} - set(labels))
    if unknown:
        raise ConfigError(f"training data uses categories absent from config.yaml: {', '.join(unknown)}")
    if args.dry_run:
        return _dry_run(cfg, args, rows, labels, data_dir)
    dev = dev_file(data_dir) if data_dir else dev_file()
    dev_rows = load_jsonl(dev) if dev.is_file() else []
    # The temperature is fitted on the development set (written by another hand than the training data), so that
    # confidence reflects messages unlike the training ones; without a development set, on held-out training rows.
    try:
        model = train(rows, labels=labels, epochs=args.epochs, seed=args.seed, calibration=dev_rows or None)
    except RuntimeError as exc:  # the word vectors' package is missing (classifiers/category/vectors.py)
        print(f"guichet : {exc}", file=sys.stderr)
        return 1
    output = Path(args.output) if args.output else DEFAULT_MODEL_DIR
    output.mkdir(parents=True, exist_ok=True)
    model.save(output)
    print(
        f"modèle enregistré dans {output} ({len(rows)} exemples, température {model.temperature:.2f}, "
        f"calibrée sur {'le jeu de développement' if dev_rows else 'une part retenue des exemples'})"
    )
    if dev_rows:
        _print_evaluations(model, rows, dev_rows, threshold=cfg.classifier.review_threshold)
    return 0


def _dry_run(cfg: Config, args: argparse.Namespace, rows: list[Any], labels: list[str], data_dir: Path | None) -> int:
    """`guichet train --dry-run`: train in a temporary directory and compare with the model in use."""
    from classifiers.category.data import TRAINING_DIR
    from classifiers.category.model import CALIBRATION_FILE, DEFAULT_MODEL_DIR
    from intake.cli.retrain import dry_run

    current = cfg.resolve_path(cfg.classifier.model) if cfg.classifier.model else DEFAULT_MODEL_DIR
    if args.examples < 0:
        print("guichet : --exemples attend un nombre positif ou nul", file=sys.stderr)
        return 2
    if not (Path(current) / CALIBRATION_FILE).is_file():
        print(
            f"guichet : aucun modèle entraîné dans {current} : rien à comparer (lancez `guichet train`)",
            file=sys.stderr,
        )
        return 1
    try:
        print(
            dry_run(
                rows=rows,
                labels=labels,
                current_dir=Path(current),
                data_dir=data_dir or TRAINING_DIR,
                epochs=args.epochs,
                seed=args.seed,
                threshold=cfg.classifier.review_threshold,
                examples=args.examples,
            )
        )
    except ValueError as exc:
        print(f"guichet : jeu de développement illisible — {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # the word vectors' package is missing (classifiers/category/vectors.py)
        print(f"guichet : {exc}", file=sys.stderr)
        return 1
    return 0


def _print_evaluations(
    model: Any,
    train_rows: list[Any],
    dev_rows: list[Any],
    *,
    threshold: float,
    target_accuracy: float = 0.98,
    target_coverage: float = 0.80,
    confidence: float | None = None,
) -> Any:
    """Print the evaluation of `model` on `dev_rows` (and on those from no training report); return the first."""
    from classifiers.category.evaluate import CONFIDENCE, evaluate

    margin = CONFIDENCE if confidence is None else confidence

    def on(rows: list[Any]) -> Any:
        return evaluate(
            model,
            rows,
            threshold=threshold,
            target_accuracy=target_accuracy,
            target_coverage=target_coverage,
            confidence=margin,
        )

    print("== jeu de développement complet ==")
    report = on(dev_rows)
    print(report.render())
    # Dev messages were written by another hand, but some from the same real report as a training message
    # (the open data has only 64 street-light reports): the figure on the others is the stricter one.
    sources = {r.source_row for r in train_rows if r.source_row}
    clean = [r for r in dev_rows if not (r.source_row and r.source_row in sources)]
    if len(clean) < len(dev_rows):
        left_out = len(dev_rows) - len(clean)
        print(f"== sans les {left_out} messages issus d'un signalement aussi utilisé à l'entraînement ==")
        print(on(clean).render())
    return report


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a trained model on the development sets (never trained on): the one given, else the shipped
    dev.jsonl and unseen_dev.jsonl (and the test set unseen_test2.jsonl when present, reported after them), with the
    coverage/accuracy curve of the review threshold."""
    from classifiers.category.data import (
        TRAINING_DIR,
        dev_file,
        load_jsonl,
        training_files,
        unseen_dev_file,
        unseen_test_file,
    )
    from classifiers.category.model import DEFAULT_MODEL_DIR, CategoryModel

    cfg = load(args)
    defaults = (dev_file(), unseen_dev_file(), unseen_test_file())
    paths = [Path(args.dev)] if args.dev else [p for p in defaults if p.is_file()]
    for path in paths:
        if not path.is_file():
            print(f"guichet : jeu de développement introuvable : {path}", file=sys.stderr)
            return 2
    try:
        model = CategoryModel.load(Path(args.model) if args.model else DEFAULT_MODEL_DIR)
        sets = [(path, load_jsonl(path)) for path in paths]
    except (FileNotFoundError, ValueError) as exc:
        print(f"guichet : {exc}", file=sys.stderr)
        return 2
    train_rows = [r for p in training_files(TRAINING_DIR) for r in load_jsonl(p)]
    chosen = None
    for path, rows in sets:
        test = " — jeu de test : il ne sert à choisir ni le modèle ni le seuil" if path == unseen_test_file() else ""
        print(f"#### {path.name} ({len(rows)} messages){test}")
        report = _print_evaluations(
            model,
            train_rows,
            rows,
            threshold=cfg.classifier.review_threshold,
            target_accuracy=args.target_accuracy,
            target_coverage=args.target_coverage,
            confidence=args.confidence,
        )
        if path.resolve() != unseen_test_file().resolve() and (args.dev or path == unseen_dev_file()):
            chosen = report.choice  # the set given, else unseen_dev.jsonl: never the test set
    if chosen is not None and chosen.point is not None:
        # Chosen on the set written apart from both training and calibration (never on the test set).
        print(
            f"seuil à livrer (classifier.review_threshold) : {chosen.point.threshold:.4f} — le plus bas dont les "
            f"signalements au-dessus sont justes à >= {chosen.target_accuracy:.0%} avec une confiance de "
            f"{chosen.confidence:.0%} (borne de Wilson), {'cible atteinte' if chosen.met else 'cible NON atteinte'}; "
            f"seuil actuel {cfg.classifier.review_threshold}"
        )
    return 0


def _share(value: str) -> float:
    """A share between 0 and 1 for the command line, with a French error otherwise."""
    try:
        share = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre attendu entre 0 et 1, pas « {value} »") from None
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"nombre attendu entre 0 et 1, pas « {value} »")
    return share


def _confidence(value: str) -> float:
    """A statistical confidence in [0.5, 1) for the command line, with a French error otherwise."""
    try:
        level = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"nombre attendu entre 0.5 et 1 (exclu), pas « {value} »") from None
    if not 0.5 <= level < 1:
        raise argparse.ArgumentTypeError(f"nombre attendu entre 0.5 et 1 (exclu), pas « {value} »")
    return level


def _analysis_json(item_id: Any, analysis: Any) -> dict[str, Any]:
    mention, geo = analysis.mention, analysis.geocoded
    address = None
    if mention is not None and mention.voie:
        label = geo.label if geo is not None else None
        address = {
            "numero": mention.numero,
            "rep": mention.rep or None,
            "voie": mention.voie,
            "code_postal": (geo.postcode if geo is not None else None) or mention.code_postal,
            "label": label,
        }
    return {
        "id": item_id,
        "category": analysis.category,
        "confidence": round(analysis.confidence, 4),
        "address": address,
        "lat": geo.lat if geo else None,
        "lon": geo.lon if geo else None,
        "location_score": round(geo.score, 4) if geo else None,
    }


def cmd_analyze(args: argparse.Namespace) -> int:
    """Read JSON lines {id, channel, subject, text} on stdin, write one analysis per line on stdout."""
    from intake.pipeline.understanding import Understanding

    cfg = load(args)
    understanding = Understanding.build(cfg, factory=None)
    status = 0
    for number, line in enumerate(sys.stdin, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict) or not isinstance(item.get("text", ""), str):
                raise ValueError("expected an object with a text string")
        except ValueError as exc:
            print(json.dumps({"id": None, "error": f"line {number}: {exc}"}, ensure_ascii=False))
            status = 1
            continue
        analysis = understanding.analyze(str(item.get("subject") or ""), item.get("text") or "")
        print(json.dumps(_analysis_json(item.get("id"), analysis), ensure_ascii=False), flush=False)
    sys.stdout.flush()
    return status


def cmd_reprocess(args: argparse.Namespace) -> int:
    """Re-run understanding over stored reports with the current model, without notifying anyone."""
    from intake.pipeline.reprocess import reprocess
    from intake.runtime.resources import build_resources

    cfg = load(args)
    res = build_resources(cfg)
    since = datetime.fromisoformat(args.since) if args.since else None
    until = datetime.fromisoformat(args.until) if args.until else None
    counts = reprocess(res, since=since, until=until, category=args.category, review_only=args.a_qualifier)
    print(", ".join(f"{k} : {v}" for k, v in counts.items()))
    return 0


def cmd_link_contacts(args: argparse.Namespace) -> int:
    """Link a citizen's email and phone into one contact (their reports follow)."""
    from intake.reports.contacts import link_contacts
    from intake.runtime.db import make_engine, make_sessionmaker

    cfg = load(args)
    factory = make_sessionmaker(make_engine(cfg.sqlalchemy_url))
    try:
        with factory() as session, session.begin():
            contact = link_contacts(
                session, email=args.email, phone=args.phone, actor=args.actor, region=cfg.town.phone_region
            )
            print(f"contact {contact.id} : {contact.email} / {contact.phone}")
    except ValueError as exc:
        print(f"guichet : {exc}", file=sys.stderr)
        return 2
    return 0


def add_parsers(sub: Any) -> None:
    """Register the understanding subcommands on the main parser."""
    imp = sub.add_parser("import-addresses", help="importer un fichier d'adresses (BAN, BAL 1.3, ndjson addok)")
    imp.add_argument("files", nargs="+")
    imp.add_argument("--citycode", action="append", help="code INSEE à garder (répétable; défaut : la commune)")
    imp.set_defaults(func=cmd_import_addresses)
    tr = sub.add_parser(
        "train",
        help="entraîner le modèle de catégories",
        **examples(
            "guichet train --dry-run          # ce que changeraient les corrections des agents, sans rien enregistrer",
            "guichet train                    # réentraîner avec les corrections et remplacer le modèle livré",
            "guichet train --output /srv/guichet/modele  # puis classifier.model: /srv/guichet/modele",
        ),
    )
    tr.add_argument("--data", help="dossier des fichiers train_*.jsonl et dev.jsonl")
    tr.add_argument("--output", help="dossier du modèle (défaut : le modèle livré)")
    tr.add_argument("--epochs", type=int, default=12)
    tr.add_argument("--seed", type=int, default=7)
    tr.add_argument("--no-corrections", action="store_true", help="sans les corrections des agents")
    tr.add_argument(
        "--dry-run",
        action="store_true",
        help="essai : entraîner dans un dossier temporaire et comparer avec le modèle actuel sur les "
        "jeux de développement, sans rien enregistrer",
    )
    tr.add_argument(
        "--exemples",
        dest="examples",
        type=int,
        default=5,
        metavar="N",
        help="avec --dry-run : messages changés montrés par jeu (défaut 5)",
    )
    tr.set_defaults(func=cmd_train)
    ev = sub.add_parser("evaluate", help="mesurer le modèle sur le jeu de développement")
    ev.add_argument("--model")
    ev.add_argument("--dev")
    ev.add_argument(
        "--target-accuracy",
        type=_share,
        default=0.98,
        help="part de catégories justes visée parmi les signalements au-dessus du seuil (défaut 0.98)",
    )
    ev.add_argument(
        "--target-coverage",
        type=_share,
        default=0.80,
        help="part des signalements visée au-dessus du seuil (défaut 0.80)",
    )
    ev.add_argument(
        "--confiance",
        dest="confidence",
        type=_confidence,
        default=None,
        help="confiance statistique exigée pour la part de justes au-dessus du seuil (borne inférieure de Wilson, "
        "entre 0.5 et 1 exclu, défaut 0.95)",
    )
    ev.set_defaults(func=cmd_evaluate)
    an = sub.add_parser("analyze", help="analyser des messages JSON lus sur l'entrée standard")
    an.set_defaults(func=cmd_analyze)
    rp = sub.add_parser("reprocess", help="réanalyser les signalements enregistrés (sans notification)")
    rp.add_argument("--since", help="date ISO de début (incluse)")
    rp.add_argument("--until", help="date ISO de fin (exclue)")
    rp.add_argument("--category", help="seulement cette catégorie")
    rp.add_argument("--a-qualifier", action="store_true", help="seulement les signalements à qualifier")
    rp.set_defaults(func=cmd_reprocess)
    lk = sub.add_parser("link-contacts", help="relier l'adresse électronique et le téléphone d'un même citoyen")
    lk.add_argument("email")
    lk.add_argument("phone")
    lk.add_argument("--actor", default="cli", help="qui fait le lien (journal)")
    lk.set_defaults(func=cmd_link_contacts)
