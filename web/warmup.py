"""What `guichet serve` does once before gunicorn forks its workers, so that no request pays for it.

Many views import what they need inside the function (to keep `web` light for the CLI and the tests). Under
gunicorn that import then happens in each forked worker on its first request: the first signed Twilio webhook
of each worker imported redis and rq (~0.45 s of CPU on a quiet machine, 2.6-4.2 s measured on a loaded one,
against a 2 s budget for answering Twilio). `import_lazy_modules` finds those imports in the source of the
`web` package (with `ast`, so the list never goes stale) and imports them in the master, where the forked
workers inherit them.
"""

from __future__ import annotations

import ast
import importlib
import logging
import pkgutil
from pathlib import Path

log = logging.getLogger(__name__)

WEB = Path(__file__).resolve().parent


def web_modules() -> list[str]:
    """Every module of the `web` package, by dotted name."""
    return ["web"] + [info.name for info in pkgutil.walk_packages([str(WEB)], prefix="web.")]


def _module_path(name: str) -> Path:
    """The source file of a `web` module (a package's `__init__.py`)."""
    relative = Path(*name.split(".")[1:])
    package = WEB / relative / "__init__.py"
    return package if package.exists() else (WEB / relative).with_suffix(".py")


def imports_inside_functions(name: str) -> set[str]:
    """The absolute modules that `web` module `name` imports inside a function (`from X import y` gives X and,
    when y is a submodule, X.y)."""
    tree = ast.parse(_module_path(name).read_text(encoding="utf-8"))
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


def lazy_imports() -> set[str]:
    """The modules that some view of `web` imports inside a function, and every module of `web` itself."""
    names = set(web_modules())
    for name in web_modules():
        names |= imports_inside_functions(name)
    return names


def import_lazy_modules() -> int:
    """Import what the views would import on their first request; the number of modules imported.

    A name that is not a module (`from X import function` gives X.function) is skipped, and so is a module that
    cannot be imported (an optional dependency missing): it fails where it is used, as without the warm-up.
    """
    imported = 0
    for name in sorted(lazy_imports()):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                log.warning("warm-up: %s not imported (%s)", name, exc)
            continue
        except ImportError as exc:
            log.warning("warm-up: %s not imported (%s)", name, exc)
            continue
        imported += 1
    return imported
