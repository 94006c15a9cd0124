"""Imports done once, before a process forks or starts threads: what its functions would import on first use.

Many functions import what they need inside their body (to keep the CLI and the tests light). In a process that
forks (gunicorn's master, the rq worker forking a work horse per job), such an import runs again in every child
(its cost paid per request or per job), and it is also a hang waiting to happen: importing a module holds that
module's import lock, and a child forked while one of the parent's threads (the ticker, the database upkeep, an
IDLE watcher) holds it waits for it forever the first time it imports the same module. `import_lazy` reads those
imports from the source with `ast` (so the list never goes stale) and imports them in the parent, before any
thread starts and before any fork.
"""

from __future__ import annotations

import ast
import importlib
import logging
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

INTAKE = Path(__file__).resolve().parents[1]
# What a worker runs: its own rooms, and the top-level modules of intake. Not the command line, nor the back
# office's read models (the web process has its own warm-up, web/warmup.py).
WORKER_ROOMS = ("runtime", "pipeline", "channels", "outbox", "reports", "email", "media", "geocoding", "privacy")
# Imported inside functions that a worker never runs (these modules and their submodules): the development mail
# catcher, schema migrations.
NOT_IN_A_WORKER = frozenset({"aiosmtpd", "intake.runtime.devmail", "alembic"})


def imports_inside_functions(path: Path) -> set[str]:
    """The absolute modules that the source file `path` imports inside a function (`from X import y` gives X and
    X.y, which may be a submodule)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def lazy_imports(files: Iterable[Path]) -> set[str]:
    """The modules that the functions of `files` import inside their body."""
    names: set[str] = set()
    for path in files:
        names |= imports_inside_functions(path)
    return names


def worker_files() -> list[Path]:
    """The source files of what a worker runs (WORKER_ROOMS, intake's top-level modules, worker.py)."""
    files = sorted(INTAKE.glob("*.py"))
    for room in WORKER_ROOMS:
        files += sorted((INTAKE / room).rglob("*.py"))
    entry = INTAKE.parent / "worker.py"
    return files + ([entry] if entry.exists() else [])


def under(name: str, packages: Iterable[str]) -> bool:
    """Whether module `name` is one of `packages` or inside one of them."""
    return any(name == package or name.startswith(package + ".") for package in packages)


def import_lazy(names: Iterable[str], *, skip: frozenset[str] = frozenset()) -> list[str]:
    """Import `names` but those in `skip` or under one of them; the modules imported. A name that is no module
    (`from X import function` gives X.function) is passed over, and so is a module that cannot be imported (an
    optional dependency missing): it fails where it is used, as it would have without the warm-up."""
    imported = []
    for name in sorted(names):
        if under(name, skip):
            continue
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                log.warning("warm-up: %s not imported (%s)", name, exc)
            continue
        except ImportError as exc:
            log.warning("warm-up: %s not imported (%s)", name, exc)
            continue
        imported.append(name)
    return imported


def warm_worker_imports() -> list[str]:
    """Import what a worker's functions import on first use (before its threads start and its horses fork)."""
    return import_lazy(lazy_imports(worker_files()), skip=NOT_IN_A_WORKER)
