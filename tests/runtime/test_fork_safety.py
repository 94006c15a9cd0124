"""A work horse forked while a worker thread holds a module's import lock waits forever: every module that the
worker's threads and jobs import inside functions must be imported by Resources.warm_up, before threads start."""

from __future__ import annotations

import ast
from pathlib import Path

from intake.runtime.resources import WORKER_MODULES

ROOT = Path(__file__).resolve().parents[2]
# Code that runs in the worker's threads (scheduler, IDLE watchers) or in its forked jobs.
THREADED_OR_FORKED = ("intake/runtime/scheduler.py", "intake/runtime/jobs.py", "intake/channels/mailboxes.py")


def _lazy_imports(path: Path) -> set[str]:
    """Modules of the project imported inside a function of `path`."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for inner in ast.walk(node):
                if isinstance(inner, ast.ImportFrom) and inner.module and inner.module.startswith("intake."):
                    found.add(inner.module)
    return found


def test_every_lazily_imported_module_of_the_worker_is_imported_before_threads_start() -> None:
    lazy = set().union(*(_lazy_imports(ROOT / name) for name in THREADED_OR_FORKED))
    assert "intake.channels.imap" in lazy  # the one a poll job hung on
    # Modules already imported at the top of resources.py's own imports are loaded anyway.
    loaded_by_resources = {"intake.models", "intake.runtime.resources", "intake.config"}
    assert sorted(lazy - set(WORKER_MODULES) - loaded_by_resources) == []
