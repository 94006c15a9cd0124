"""Run work on each of several items in a forked child that a CPU, wall-clock and memory budget can stop.

The parser of a hostile message may never return (the standard library's RFC 2047 decoder is quadratic),
or eat all memory: a limit enforced by the kernel on a forked child does not depend on the parser's
cooperation. The child inherits what the worker loaded (models, references) through fork, copy-on-write.
One child reads a whole batch, item after item, each within its own budget: forking per item would cost
more than understanding the item. When an item kills the child (or goes over its budget) after others, it is
tried again alone in a fresh child, so that what the child spent on the others is never blamed on it; when it
fails alone too, it alone is parked, and a new child takes the rest.
"""

from __future__ import annotations

import math
import os
import pickle
import resource
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe
from typing import Any, Generic, TypeVar

T = TypeVar("T")
X = TypeVar("X")


@dataclass(frozen=True)
class Budget:
    """What one item may cost."""

    cpu_seconds: float
    wall_seconds: float
    memory_mb: int


class BudgetExceeded(Exception):
    """The work went over its budget and was stopped; the French reason is shown to agents."""


class ChildFailed(Exception):
    """The work raised in the child: the exception's type name and message (and the original if it pickles)."""

    def __init__(self, type_name: str, message: str, original: BaseException | None = None) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name, self.message, self.original = type_name, message, original


@dataclass(frozen=True)
class Result(Generic[T]):
    """The value of one item, or why there is none."""

    value: T | None = None
    error: BudgetExceeded | ChildFailed | None = None


def run_bounded(work: Callable[[], T], budget: Budget) -> T:
    """The result of `work()` computed in a forked child within `budget` (raises BudgetExceeded/ChildFailed)."""
    [result] = run_each(lambda _: work(), [None], budget)
    if result.error is not None:
        raise result.error
    return result.value  # type: ignore[return-value]


def run_each(work: Callable[[X], T], items: Sequence[X], budget: Budget) -> list[Result[T]]:
    """`work(item)` for every item, in order, in forked children, each item within `budget`."""
    results: list[Result[T]] = []
    while len(results) < len(items):
        got = _one_child(work, items[len(results) :], budget)
        if len(got) > 1 and isinstance(got[-1].error, BudgetExceeded):
            # The child stopped after reading others: what it used for them (memory above all) may be to blame.
            # The item is tried again alone in a fresh child, and parked only if it fails there too.
            got[-1:] = _one_child(work, items[len(results) + len(got) - 1 : len(results) + len(got)], budget)
        results.extend(got)
    return results


def _one_child(work: Callable[[X], T], items: Sequence[X], budget: Budget) -> list[Result[T]]:
    """Results from one child, in order, up to and including the item that ended it (if one did)."""
    reader, writer = Pipe(duplex=False)
    pid = os.fork()
    if pid == 0:  # the child: never returns
        reader.close()
        _child(work, items, writer, budget)
    writer.close()
    out: list[Result[T]] = []
    try:
        return _collect(pid, reader, len(items), budget, out)
    except BaseException:  # the worker is stopping (or broke): the child must not outlive it
        _kill(pid)
        raise
    finally:
        reader.close()


def _collect(pid: int, reader: Connection, count: int, budget: Budget, out: list[Result[T]]) -> list[Result[T]]:
    """Read the child's results into `out` until all came or the child ended early."""
    while len(out) < count:
        message = _next(reader, budget.wall_seconds)
        if message is None or message == _GONE:  # over the wall-clock budget, or the child died
            status = _kill(pid) if message is None else _reap(pid)
            out.append(Result(error=BudgetExceeded(_death_reason(status, budget))))
            return out
        kind, value = message
        if kind == "ok":
            out.append(Result(value=value))
        elif kind == "memory":
            out.append(Result(error=BudgetExceeded(f"mémoire dépassée ({budget.memory_mb} Mo)")))
        else:
            type_name, text, original = value
            out.append(Result(error=ChildFailed(type_name, text, original)))
    _reap(pid)
    return out


_TIMEOUT = -1  # the wait status standing for "stopped by the parent at the wall-clock limit"
_GONE = ("gone", None)  # the child closed the pipe: it died


def _next(reader: Connection, seconds: float) -> tuple[str, Any] | None:
    """The child's next message, _GONE when it died, or None when nothing came within `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            if reader.poll(min(remaining, 1.0)):
                outcome: tuple[str, Any] = reader.recv()
                return outcome
        except (EOFError, OSError):
            return _GONE


def _kill(pid: int) -> int:
    """End a child over its wall-clock budget; _TIMEOUT (or its status if it died meanwhile)."""
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return _TIMEOUT
    if done:
        return status
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)
    return _TIMEOUT


def _child(work: Callable[[X], Any], items: Sequence[X], writer: Connection, budget: Budget) -> None:
    code = 0
    try:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the worker's handlers are not the child's
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        limit = _address_space() + budget.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        for item in items:
            # A forked child's CPU time starts at zero; each item gets its budget on top of what was used.
            usage = resource.getrusage(resource.RUSAGE_SELF)
            soft = math.ceil(usage.ru_utime + usage.ru_stime + budget.cpu_seconds)
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard if hard == resource.RLIM_INFINITY else max(hard, soft)))
            _send(writer, _attempt(work, item))
    except BaseException:  # noqa: BLE001 - whatever happens, the child ends here
        code = 70
    finally:
        os._exit(code)  # no atexit, no finally of the parent's frames, no flush of inherited buffers


def _attempt(work: Callable[[X], Any], item: X) -> tuple[str, Any]:
    try:
        return ("ok", work(item))
    except MemoryError:
        return ("memory", None)
    except Exception as exc:  # every failure crosses back as data
        return ("error", (type(exc).__name__, str(exc)[:4000], _picklable(exc)))


def _send(writer: Connection, message: tuple[str, Any]) -> None:
    try:
        writer.send(message)
    except MemoryError:
        writer.send(("memory", None))
    except Exception as exc:  # an unpicklable result is the item's failure, not the worker's
        writer.send(("error", (type(exc).__name__, str(exc)[:4000], None)))


def _picklable(exc: BaseException) -> BaseException | None:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return None
    return exc


def _address_space() -> int:
    """The process's current virtual size in bytes (what RLIMIT_AS counts)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _reap(pid: int) -> int:
    """The child's wait status (0 when it cannot be had)."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 0
    return status


def _death_reason(status: int, budget: Budget) -> str:
    if status == _TIMEOUT:
        return f"délai d'analyse dépassé ({budget.wall_seconds:g} s)"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig == signal.SIGXCPU:
            return f"délai d'analyse dépassé ({budget.cpu_seconds:g} s de calcul)"
        if sig == signal.SIGKILL:
            return "l'analyse a été arrêtée par le système (mémoire ou délai dépassé)"
        return f"l'analyse s'est arrêtée brutalement (signal {signal.Signals(sig).name})"
    return "l'analyse s'est arrêtée sans résultat (mémoire dépassée ?)"
