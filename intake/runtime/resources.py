"""Heavy, long-lived resources of a process (engine, stores, pipeline, mailer), built once from config."""

from __future__ import annotations

import gc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from intake.channels.base import Channel
from intake.channels.registry import CHANNELS
from intake.config import Config
from intake.outbox.notifiers import Notifier, build_notifiers
from intake.outbox.notify import Mailer, make_mailer, warm_templates
from intake.pipeline.registry import Stage, build
from intake.runtime.db import make_engine, make_sessionmaker

WORKER_MODULES = (
    "intake.channels.imap",
    "intake.channels.imap_auth",
    "intake.channels.mailboxes",
    "intake.channels.oauth2",
    "intake.channels.twilio_poll",
    "intake.channels.twilio_media",
    "intake.channels.transcript_poll",
    "intake.channels.transcribers",
    "intake.outbox.sender",
    "intake.outbox.digest",
    "intake.outbox.sms",
    "intake.pipeline.spool",
    "intake.runtime.housekeeping",
    "intake.runtime.queue",
    "intake.runtime.jobs",
)


@dataclass
class Resources:
    """Everything a job needs, loaded before the worker forks."""

    config: Config
    engine: Engine
    factory: sessionmaker[Session]
    file_store: Any
    mailer: Mailer
    stages: tuple[Stage, ...]
    channels: dict[str, Channel] = field(default_factory=lambda: dict(CHANNELS))
    notifiers: Mapping[str, Notifier] | None = None  # by outbox channel; None: as config.yaml chooses
    extra: dict[str, Any] = field(default_factory=dict)

    def understanding(self) -> Any:
        """The category model, address extractor and geocoder, loaded on first use (before the fork)."""
        if "understanding" not in self.extra:
            from intake.pipeline.understanding import Understanding

            self.extra["understanding"] = Understanding.build(self.config, factory=self.factory)
        return self.extra["understanding"]

    def warm_up(self) -> None:
        """Import and exercise the parsing and imaging code once, so that forked work horses inherit it.

        Without this every job would pay for importing mail-parser, Pillow's plugins, pillow-heif and
        the Outlook readers (a few hundred milliseconds), since rq forks a fresh horse per job.
        """
        import importlib
        import io
        from email.message import EmailMessage

        from PIL import Image

        from intake.email.parse import parse_email
        from intake.media.exif import read_image_info
        from intake.media.formats import ensure_heif
        from intake.media.images import thumbnail

        for name in ("tnefparse", "extract_msg", "nh3", "charset_normalizer"):
            importlib.import_module(name)
        # Every module a job or a worker thread imports lazily is imported here, in the main thread, before any
        # thread starts: a work horse forked while a thread (the IDLE watcher) held a module's import lock would
        # wait for that lock forever (seen: a poll job stuck in "from intake.channels.imap import ...").
        for name in WORKER_MODULES:
            importlib.import_module(name)
        ensure_heif()
        buf = io.BytesIO()
        Image.new("RGB", (8, 8)).save(buf, "JPEG")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "Préchauffage"
        msg.set_content("Bonjour, ceci est un essai.")
        msg.add_attachment(buf.getvalue(), maintype="image", subtype="jpeg", filename="x.jpg")
        parsed = parse_email(msg.as_bytes())
        for att in parsed.attachments:
            read_image_info(att.payload)
            thumbnail(att.payload)
        if any(name in self.stages_names for name in ("classify", "locate")):
            understanding = self.understanding()
            understanding.analyze("Préchauffage", "Un lampadaire est éteint rue de Rivoli.")
            understanding.warm()  # the commune's footprint (a photo's GPS): ~0.4 s that every horse paid again
        warm_templates(self.config)

    def freeze(self) -> None:
        """After warm_up, in a process that only forks workers or horses from now on: what is loaded (the model, the
        reference, the modules: millions of objects that live as long as the process) is put out of the cyclic
        garbage collector's sight, so that the collections of every forked horse do not walk it all again (a
        measured 3-4 ms per message in 50-message jobs) nor make its copy-on-write pages private."""
        gc.collect()
        gc.freeze()

    @property
    def stages_names(self) -> list[str]:
        """Names of the configured pipeline stages."""
        return [stage.name for stage in self.stages]

    def dispose(self) -> None:
        """Close the database pool (after a fork, before exit)."""
        self.engine.dispose()


def build_resources(config: Config, *, mailer: Mailer | None = None) -> Resources:
    """Build the resources for `config`; stages are validated against the registry here."""
    from intake.media.storage import FileStore
    from intake.reports.zones import zones_for

    zones_for(config)  # a bad zones file or a rule naming an unknown zone stops here, with the key named
    engine = make_engine(config.sqlalchemy_url)
    root = config.resolve_path(config.storage.root)
    root.mkdir(parents=True, exist_ok=True)
    mailer = mailer or make_mailer(config)
    return Resources(
        config=config,
        engine=engine,
        factory=make_sessionmaker(engine),
        file_store=FileStore(root),
        mailer=mailer,
        notifiers=build_notifiers(config, mailer),
        stages=build(list(config.pipeline)),
    )
