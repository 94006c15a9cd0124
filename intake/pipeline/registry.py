"""The ordered processing stages of a raw message, their protocol and their stop exceptions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from intake.config import Config, ConfigError
from intake.models import RawMessage, Report, ReportMessage


class Discard(Exception):
    """Stop: the message is kept as received but files nothing (an auto-reply, a bounce)."""


class HoldForReview(Exception):
    """Stop: the message needs a human before it can be filed."""


@dataclass
class Context:
    """What the stages share while processing one raw message."""

    raw: RawMessage
    session: Session
    config: Config
    resources: Any
    parsed: Any = None
    report: Report | None = None
    message: ReportMessage | None = None
    created: bool = False
    role: str = "original"
    no_confirmation: str | None = None  # why no confirmation is sent, when none is
    outbox_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


class Stage(Protocol):
    """A step of the pipeline; it reads and enriches the context, or raises Discard/HoldForReview."""

    name: str

    def process(self, ctx: Context) -> None: ...


_REGISTRY: dict[str, Callable[[], Stage]] = {}


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
    unknown = [n for n in names if n not in _REGISTRY]
    if unknown:
        raise ConfigError(f"pipeline: unknown stage(s) {', '.join(unknown)} (known: {', '.join(sorted(_REGISTRY))})")
    return tuple(_REGISTRY[n]() for n in names)


def run(stages: tuple[Stage, ...], ctx: Context) -> Context:
    """Run every stage in order; stop exceptions propagate to the caller."""
    for stage in stages:
        stage.process(ctx)
    return ctx


def _load_builtins() -> None:
    import intake.pipeline.stages  # noqa: F401  (registers the built-in stages)
