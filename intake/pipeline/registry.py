"""The ordered processing stages of a raw message: their two phases, their contexts and their stop exceptions.

A stage may *read* (phase 1, understanding: parse, screen, store media files, classify, find the address;
pure work on the message alone, no database, run within the message's budget) and may *file* (phase 2: one
short write transaction that threads, opens or continues the report and applies what was read).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from intake.config import DEFAULT_PIPELINE, Config, ConfigError
from intake.media.storage import FileStore
from intake.message import InboundMessage, RawInput
from intake.models import RawMessage, Report, ReportMessage
from intake.pipeline.understanding import Understanding


class Parser(Protocol):
    """What the pipeline needs of a door (intake.channels.base.Channel satisfies it)."""

    label: str

    def parse(self, raw: RawInput, config: Config) -> InboundMessage:
        """The message as the door understands it."""
        ...


class StageResources(Protocol):
    """What stages use of the process's resources (intake.runtime.resources.Resources satisfies it)."""

    config: Config
    file_store: FileStore
    channels: dict[str, Any]  # name -> Parser (a Protocol attribute is invariant: Any keeps Channel assignable)

    def understanding(self) -> Understanding:
        """The category model, address extractor and geocoder, loaded once per process."""
        ...


class Discard(Exception):
    """Stop: the message is kept as received but files nothing (an auto-reply, a bounce)."""


class HoldForReview(Exception):
    """Stop: the message needs a human before it can be filed."""


@dataclass
class Reading:
    """What phase 1 learnt about one message; plain values that cross a process boundary (pickled)."""

    raw: RawInput
    inbound: InboundMessage | None = None
    no_confirmation: str | None = None  # why no confirmation is sent, when none is
    notes: list[str] = field(default_factory=list)
    media: list[Any] = field(default_factory=list)  # intake.media.attachments.StoredMedia, in message order
    prediction: Any = None  # classifiers.category.model.Prediction, when the model was asked
    mention: Any = None  # classifiers.address AddressMention of the problem's address in the text
    geocoded: Any = None  # intake.geocoding.protocol.GeocodeResult of that mention


@dataclass
class ReadContext:
    """What the reading half of the stages share: the message, the town's settings and loaded resources."""

    reading: Reading
    config: Config
    resources: StageResources

    @property
    def raw(self) -> RawInput:
        """The stored raw message, as plain values."""
        return self.reading.raw


@dataclass
class Context:
    """What the filing half of the stages share, inside one write transaction."""

    raw: RawMessage
    session: Session
    config: Config
    resources: StageResources
    reading: Reading
    inbound: InboundMessage | None = None  # the stage "optout" clears it: later stages file nothing
    report: Report | None = None
    message: ReportMessage | None = None
    created: bool = False
    role: str = "original"
    no_confirmation: str | None = None
    outbox_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # The report a message cited by Message-ID without its sender being in that conversation (stage "thread").
    linked_report_id: int | None = None
    # Outbox rows added but not flushed yet, with where their ids go in `outbox_ids` (add_outbox, all_outbox_ids).
    unflushed_outbox: list[tuple[int, Any]] = field(default_factory=list)

    def add_outbox(self, row: Any) -> None:
        """Note an outbox row added to the session whose id is not known yet (no flush for it alone): listed in
        `all_outbox_ids()`, in the order the stages made their rows."""
        self.unflushed_outbox.append((len(self.outbox_ids), row))

    def all_outbox_ids(self) -> list[int]:
        """The outbox rows to send after commit, in order; call after the session was flushed."""
        ids = list(self.outbox_ids)
        for offset, (position, row) in enumerate(self.unflushed_outbox):
            if row.id is None:
                raise RuntimeError("outbox row not flushed yet")
            ids.insert(position + offset, row.id)
        return ids

    @classmethod
    def for_filing(
        cls, *, raw: RawMessage, session: Session, config: Config, resources: StageResources, reading: Reading
    ) -> Context:
        """The filing context of a message read in phase 1."""
        return cls(
            raw=raw,
            session=session,
            config=config,
            resources=resources,
            reading=reading,
            inbound=reading.inbound,
            no_confirmation=reading.no_confirmation,
            notes=list(reading.notes),
        )


class Stage(Protocol):
    """A named step of the pipeline; built-ins derive from BaseStage and override one phase or both."""

    name: str

    def read(self, ctx: ReadContext) -> None:
        """Phase 1: enrich `ctx.reading` from the message alone; no database."""

    def file(self, ctx: Context) -> None:
        """Phase 2: apply to the database, inside the filing transaction."""


class BaseStage:
    """A stage that does nothing in either phase until it says otherwise."""

    name = ""

    def read(self, ctx: ReadContext) -> None:
        """Nothing to read by default."""

    def file(self, ctx: Context) -> None:
        """Nothing to file by default."""


_REGISTRY: dict[str, Callable[[], Stage]] = {}
# Stage names of earlier releases, kept valid in towns' config files: one "parse" stage now reads every door.
RETIRED = frozenset({"parse_sms", "parse_open311", "parse_staff"})
# Every built-in stage lives in intake/pipeline/stages/<name>.py and runs in the default pipeline: one list.
BUILTIN_MODULES = DEFAULT_PIPELINE


def register(name: str) -> Callable[[type], type]:
    """Class decorator registering a stage under `name` (built-ins use it too)."""

    def wrap(cls: type) -> type:
        _REGISTRY[name] = cls
        cls.name = name  # type: ignore[attr-defined]
        return cls

    return wrap


def registered() -> list[str]:
    """Names of every registered stage."""
    _load_builtins()
    return sorted(_REGISTRY)


def build(names: list[str]) -> tuple[Stage, ...]:
    """Instantiate the stages named in config order; unknown names are a configuration error."""
    _load_builtins()
    unknown = [n for n in names if n not in _REGISTRY and n not in RETIRED]
    if unknown:
        raise ConfigError(f"pipeline: unknown stage(s) {', '.join(unknown)} (known: {', '.join(sorted(_REGISTRY))})")
    return tuple(_REGISTRY[n]() for n in names if n not in RETIRED)


def read_all(stages: tuple[Stage, ...], ctx: ReadContext) -> Reading:
    """Phase 1: every stage's reading half, in order; stop exceptions propagate to the caller."""
    for stage in stages:
        stage.read(ctx)
    return ctx.reading


def file_all(stages: tuple[Stage, ...], ctx: Context) -> Context:
    """Phase 2: every stage's filing half, in order; stop exceptions propagate to the caller."""
    for stage in stages:
        stage.file(ctx)
    return ctx


def _load_builtins() -> None:
    # Built-in stages register through the same decorator as extensions; their modules are named after them.
    for name in BUILTIN_MODULES:
        importlib.import_module(f"intake.pipeline.stages.{name}")
