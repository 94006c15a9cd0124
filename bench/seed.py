"""Bulk-insert N realistic reports into a migrated database, fast (driver executemany, COPY on PostgreSQL).

Run: .venv/bin/python -m bench.seed --reports 100000 [--database-url URL] [--seed 42]
Categories and services come from config.yaml, places from data/demo/adresses-paris-extrait.csv (Paris,
ODbL), dates spread over the last year (ids follow dates, as in real life), a mix of channels and statuses
(older reports mostly resolved), repeat reporters, a few duplicates, follow-ups, photos and the audit
events. Rows look like what the pipeline writes, so that the back office's queries see a realistic table;
the files themselves are not written (thumbnails answer 404).
"""

from __future__ import annotations

import argparse
import bisect
import csv
import hashlib
import itertools
import json
import random
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import JSON, Engine, Table, func, insert, select, text  # noqa: E402

from intake.config import Config, load_config  # noqa: E402
from intake.models import (  # noqa: E402
    Attachment,
    Contact,
    Correction,
    Event,
    RawMessage,
    Report,
    ReportMessage,
    TrackingCounter,
)
from intake.reports.routing import AUTO_TRANSMIT_NOTE  # noqa: E402
from intake.runtime.db import make_engine, migrate  # noqa: E402

ADDRESSES = ROOT / "data" / "demo" / "adresses-paris-extrait.csv"
BATCH = 5000
CORRECTED_AUTO = 0.03  # share of the reports transmitted without review whose category an agent changed
CORRECTED_OTHER = 0.12  # and of the model's other proposals
# channel → share of reports (the town's doors)
CHANNELS = {
    "email": 0.52,
    "sms": 0.16,
    "whatsapp": 0.06,
    "open311": 0.14,
    "telephone": 0.06,
    "accueil": 0.04,
    "courrier": 0.02,
}
# a report's status by age: recent ones are still open, old ones mostly closed
OPEN_MIX = {"nouveau": 0.25, "a_qualifier": 0.15, "transmis": 0.35, "en_cours": 0.2, "resolu": 0.04, "rejete": 0.01}
OLD_MIX = {"nouveau": 0.01, "a_qualifier": 0.02, "transmis": 0.07, "en_cours": 0.08, "resolu": 0.75, "rejete": 0.07}
DUPLICATES = 0.04
FOLLOW_UPS = 0.12
PHOTOS = 0.35
WORDS = {
    "voirie": ("Nid de poule", "un nid de poule profond sur la chaussée, dangereux pour les deux-roues"),
    "eclairage": ("Lampadaire éteint", "le lampadaire ne s'allume plus depuis plusieurs soirs, la rue est noire"),
    "proprete": ("Trottoir sale", "des sacs poubelle éventrés et des déchets partout sur le trottoir"),
    "objets_abandonnes": ("Dépôt sauvage", "un matelas, des cartons et un vieux frigo abandonnés sur le trottoir"),
    "graffitis": ("Tags sur la façade", "des tags ont été faits cette nuit sur la façade et le rideau métallique"),
    "mobilier_urbain": ("Banc cassé", "le banc est cassé, une planche manque et des vis dépassent"),
    "vegetaux": ("Branche menaçante", "une grosse branche pend au-dessus du trottoir après le coup de vent"),
    "vehicules": ("Voiture ventouse", "une voiture sans plaque stationne depuis des semaines, pneus crevés"),
    "eau": ("Fuite d'eau", "de l'eau coule en continu d'une bouche sous le trottoir"),
    "activites_commerciales": ("Terrasse envahissante", "la terrasse du café occupe tout le trottoir"),
    "autre": ("Demande d'information", "je voudrais savoir à qui m'adresser pour ce problème"),
}
FIRST = ("Jeanne", "Paul", "Camille", "Karim", "Sophie", "Lucas", "Fatou", "Nicolas", "Inès", "Marc", "Léa", "Hugo")
LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Petit", "Durand", "Leroy", "Moreau", "Simon", "Diallo")


@dataclass
class SeedStats:
    """What was inserted and how long it took."""

    rows: dict[str, int]
    seconds: float

    def line(self) -> str:
        """One line for a benchmark's output."""
        total = sum(self.rows.values())
        parts = ", ".join(f"{n} {name}" for name, n in self.rows.items())
        return f"{total} rows in {self.seconds:.1f} s ({total / max(self.seconds, 1e-9):,.0f} rows/s): {parts}"


def load_places(path: Path = ADDRESSES) -> list[dict[str, Any]]:
    """Address points of the demo commune (BAN layout)."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            {
                "numero": r["numero"],
                "rep": r["rep"] or None,
                "voie": r["nom_voie"],
                "postcode": r["code_postal"],
                "citycode": r["code_insee"],
                "lat": float(r["lat"]),
                "lon": float(r["lon"]),
            }
            for r in csv.DictReader(fh, delimiter=";")
            if r["lat"] and r["lon"]
        ]


class _Mix:
    """Draws keys with the given shares (bisect on cumulative weights: random.choices was a hot spot)."""

    def __init__(self, mix: dict[str, float]) -> None:
        self.keys = list(mix)
        self.cum = list(itertools.accumulate(mix.values()))

    def pick(self, rng: random.Random) -> str:
        return self.keys[bisect.bisect(self.cum, rng.random() * self.cum[-1])]


class _Writer:
    """Buffers rows per table and writes them in bulk, parents before children, one transaction per flush.

    Values go through each column type's own bind processor (SQLAlchemy's storage format: JSON text, SQLite
    dates), then to the driver in one executemany per table, or COPY on PostgreSQL: per-row statement
    compilation was most of the time.
    """

    ORDER = ("contact", "raw_message", "report", "report_message", "attachment", "event", "correction")

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        models: tuple[Any, ...] = (Contact, RawMessage, Report, ReportMessage, Attachment, Event, Correction)
        self.tables: dict[str, Table] = {m.__table__.name: m.__table__ for m in models}
        self.pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row; every BATCH reports the queued rows are written."""
        self.pending[table].append(row)
        if len(self.pending["report"]) >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write every queued row."""
        dialect = self.engine.dialect
        with self.engine.begin() as conn:
            for name in self.ORDER:
                rows = self.pending.pop(name, [])
                if not rows:
                    continue
                columns = [self.tables[name].c[key] for key in rows[0]]
                procs = [c.type.bind_processor(dialect) for c in columns]
                if dialect.name == "postgresql":
                    procs = [json.dumps if isinstance(c.type, JSON) else None for c in columns]
                values = [
                    tuple(p(v) if p and v is not None else v for p, v in zip(procs, row.values(), strict=True))
                    for row in rows
                ]
                names = ", ".join(c.name for c in columns)
                if dialect.name == "postgresql":
                    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                    with cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
                        for value in values:
                            copy.write_row(value)
                else:
                    marks = ", ".join("?" if dialect.paramstyle == "qmark" else "%s" for _ in columns)
                    conn.exec_driver_sql(f"INSERT INTO {name} ({names}) VALUES ({marks})", values)
                self.counts[name] += len(rows)


def seed(
    url: str, reports: int, *, config: Config | None = None, seed_value: int = 42, now: datetime | None = None
) -> SeedStats:
    """Insert `reports` reports (with contacts, raw messages, messages, photos, events) into the database at `url`.

    The database must be migrated; ids and tracking numbers continue after the rows already there.
    """
    started = time.perf_counter()
    cfg = config or load_config()
    rng = random.Random(seed_value)
    now = now or datetime.now(UTC)
    places = load_places()
    channels, open_mix, old_mix = _Mix(CHANNELS), _Mix(OPEN_MIX), _Mix(OLD_MIX)
    categories = [c.code for c in cfg.categories]
    service = {c.code: c.service for c in cfg.categories}
    engine = make_engine(url)
    writer = _Writer(engine)
    with engine.connect() as conn:
        first = {
            name: int(conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one()) + 1
            for name, t in writer.tables.items()
        }
        counters: dict[int, int] = defaultdict(
            int, {y: v for y, v in conn.execute(select(TrackingCounter.year, TrackingCounter.value))}
        )
    ids = dict(first)

    def next_id(table: str) -> int:
        ids[table] += 1
        return ids[table] - 1

    citizens = max(1, reports // 3)  # a third of the reporters write again
    for i in range(citizens):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        number = first["contact"] + i
        writer.add(
            "contact",
            {
                "id": next_id("contact"),
                "name": name,
                "email": f"citoyen{number}@example.org",
                "phone": f"+336{number:08d}",
                "opt_out": False,
                "created_at": now - timedelta(days=366),
            },
        )
    # Classification, automatic transmission and agents' corrections draw from their own generator: the rows the
    # other benchmarks read stay those of the same seed.
    routing_rng = random.Random(seed_value + 1)
    dates = sorted(now - timedelta(seconds=rng.uniform(0, 365 * 86400)) for _ in range(reports))
    recent: dict[str, list[tuple[int, float, float, datetime]]] = defaultdict(list)  # for duplicates
    for created in dates:
        rid = next_id("report")
        counters[created.year] += 1
        channel = channels.pick(rng)
        category = rng.choice(categories)
        place = rng.choice(places)
        lat = place["lat"] + rng.uniform(-0.0002, 0.0002)
        lon = place["lon"] + rng.uniform(-0.0003, 0.0003)
        age = now - created
        status = (open_mix if age < timedelta(days=21) else old_mix).pick(rng)
        located = rng.random() > 0.06
        author = first["contact"] + rng.randrange(citizens)
        title, words = WORDS.get(category, WORDS["autre"])
        label = " ".join(x for x in (place["numero"], place["rep"], place["voie"]) if x) + f" {place['postcode']} Paris"
        body = f"Bonjour,\n\n{words[0].upper()}{words[1:]} au {label}.\n\nMerci d'intervenir."
        duplicate_of = None
        pool = recent[category]
        if pool and rng.random() < DUPLICATES:
            duplicate_of, lat, lon, _ = pool[-1 - rng.randrange(min(len(pool), 20))]
        pool.append((rid, lat, lon, created))
        if len(pool) > 200:
            del pool[:100]
        source = "model" if channel in {"email", "sms", "whatsapp"} else ("app" if channel == "open311" else "agent")
        row = {
            "id": rid,
            "tracking_number": f"{created.year}-{counters[created.year]:05d}",
            "public_token": hashlib.sha256(f"{seed_value}-{rid}".encode()).hexdigest()[:32],
            "channel": channel,
            "public_id": hashlib.sha256(f"{seed_value}-public-{rid}".encode()).hexdigest()[:32],
            "subject": title if channel == "email" else "",
            "description": body,
            "category": category,
            "service": service.get(category),
            "zone": None,
            "status": status,
            "status_reason": "hors_competence" if status == "rejete" else None,
            "location_requested_at": None,
            "author_id": author,
            "forwarded_by_name": None,
            "forwarded_by_email": None,
            "citizen_recovered": True,
            "category_source": source,
            "review_reasons": ["catégorie incertaine"] if status == "a_qualifier" else [],
            "address_label": label if located else None,
            "address_numero": place["numero"] if located else None,
            "address_rep": place["rep"] if located else None,
            "address_voie": place["voie"] if located else None,
            "address_postcode": place["postcode"] if located else None,
            "address_citycode": place["citycode"] if located else None,
            "lat": lat if located else None,
            "lon": lon if located else None,
            "location_source": rng.choice(("text", "text", "exif", "pin")) if located else "none",
            "confidence": {"category": round(rng.uniform(0.5, 1.0), 3), "location": round(rng.uniform(0.6, 1.0), 3)},
            "notes": [],
            "duplicate_of_id": duplicate_of,
            "created_at": created,
            "updated_at": created + min(age, timedelta(days=rng.uniform(0, 30))),
        }
        # The pipeline transmits a sure, placed, original report of the model itself (routing.dispatch); agents
        # change the category of a few of those, and of more of the model's other proposals.
        confidence = row["confidence"]["category"]
        auto = (
            source == "model"
            and confidence >= cfg.classifier.review_threshold
            and located
            and duplicate_of is None
            and status not in {"nouveau", "a_qualifier"}
        )
        proposed = category
        if source == "model" and routing_rng.random() < (CORRECTED_AUTO if auto else CORRECTED_OTHER):
            category = routing_rng.choice([c for c in categories if c != proposed])
            source = "agent"
            row.update(category=category, category_source=source, service=service.get(category))
        writer.add("report", row)
        messages = 1 + (rng.random() < FOLLOW_UPS)
        for m in range(messages):
            at = created + timedelta(hours=m * rng.uniform(1, 48))
            raw_channel = "sms" if channel == "whatsapp" else channel
            payload = f"From: citoyen{author}@example.org\nSubject: {title}\n\n{body}\n".encode()
            raw_id = next_id("raw_message")
            writer.add(
                "raw_message",
                {
                    "id": raw_id,
                    "channel": raw_channel,
                    "source": "bench",
                    "external_key": f"bench-{raw_id}",
                    "payload": payload,
                    "payload_sha256": hashlib.sha256(payload).hexdigest(),
                    "received_at": at,
                    "status": "processed",
                    "attempts": 1,
                    "processed_at": at,
                },
            )
            msg_id = next_id("report_message")
            writer.add(
                "report_message",
                {
                    "id": msg_id,
                    "report_id": rid,
                    "raw_message_id": raw_id,
                    "role": "original" if m == 0 else "follow_up",
                    "message_id": f"bench-{raw_id}@example.org" if channel == "email" else None,
                    "sender_name": None,
                    "sender_email": f"citoyen{author}@example.org" if channel == "email" else None,
                    "subject": title,
                    "text": body if m == 0 else "C'est toujours là, merci de passer.",
                    "quoted": "",
                    "signature": "",
                    "html": None,
                    "details": {},
                    "created_at": at,
                },
            )
            if m == 0 and channel in {"email", "whatsapp", "open311"} and rng.random() < PHOTOS:
                digest = hashlib.sha256(f"photo-{rid}".encode()).hexdigest()
                writer.add(
                    "attachment",
                    {
                        "id": next_id("attachment"),
                        "report_id": rid,
                        "report_message_id": msg_id,
                        "sha256": digest,
                        "filename": f"IMG_{rid:06d}.jpg",
                        "content_type": "image/jpeg",
                        "size": 850_000,
                        "is_image": True,
                        "served_sha256": digest,
                        "thumb_sha256": digest,
                        "width": 4032,
                        "height": 3024,
                        "orientation": 1,
                        "gps_lat": lat,
                        "gps_lon": lon,
                        "error": None,
                    },
                )
        writer.add(
            "event",
            {
                "id": next_id("event"),
                "report_id": rid,
                "at": created,
                "actor": "guichet",
                "action": "created",
                "detail": {"channel": channel},
            },
        )
        writer.add(
            "event",
            {
                "id": next_id("event"),
                "report_id": rid,
                "at": created,
                "actor": "guichet",
                "action": "classified",
                "detail": {
                    "category": proposed,
                    "confidence": confidence,
                    **({} if proposed != category or source == "model" else {"source": source}),
                },
            },
        )
        if auto:
            writer.add(
                "event",
                {
                    "id": next_id("event"),
                    "report_id": rid,
                    "at": created,
                    "actor": "guichet",
                    "action": "status",
                    "detail": {
                        "from": "nouveau",
                        "to": "transmis",
                        "note": AUTO_TRANSMIT_NOTE,
                        "category": proposed,
                        "source": "model",
                        "confidence": confidence,
                        "threshold": cfg.classifier.review_threshold,
                    },
                },
            )
        if proposed != category:
            writer.add(
                "correction",
                {
                    "id": next_id("correction"),
                    "report_id": rid,
                    "field": "category",
                    "old_value": proposed,
                    "new_value": category,
                    "subject": title,
                    "text": body,
                    "channel": channel,
                    "actor": "back-office",
                    "at": created + timedelta(hours=2),
                },
            )
        if status != "nouveau":
            writer.add(
                "event",
                {
                    "id": next_id("event"),
                    "report_id": rid,
                    "at": created + min(age, timedelta(days=rng.uniform(0, 20))),
                    "actor": "back-office",
                    "action": "status",
                    "detail": {"from": "nouveau", "to": status, "note": None},
                },
            )
    writer.flush()
    _after(engine, counters, writer)
    engine.dispose()
    return SeedStats(rows={k: writer.counts[k] for k in _Writer.ORDER}, seconds=time.perf_counter() - started)


def _after(engine: Engine, counters: dict[int, int], writer: _Writer) -> None:
    """Tracking counters at the last inserted numbers; PostgreSQL sequences past the explicit ids; statistics."""
    counter = TrackingCounter.__table__
    with engine.begin() as conn:
        for year, value in counters.items():
            exists = conn.execute(select(counter.c.value).where(counter.c.year == year)).first()
            if exists is None:
                conn.execute(insert(counter).values(year=year, value=value))
            else:
                conn.execute(counter.update().where(counter.c.year == year).values(value=value))
        if engine.dialect.name == "postgresql":
            for name in writer.tables:
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT coalesce(max(id), 1) FROM {name}))"
                    )
                )
        conn.execute(text("ANALYZE"))  # fresh planner statistics, as a database in service has


def main(argv: list[str] | None = None) -> int:
    """Migrate the database, insert the reports and print what was inserted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--database-url", default="sqlite:///var/bench-seed.db")
    parser.add_argument("--seed", type=int, default=42, help="random seed (same seed, same rows)")
    args = parser.parse_args(argv)
    migrate(args.database_url)
    print(seed(args.database_url, args.reports, seed_value=args.seed).line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
