"""What `guichet serve` does once before gunicorn forks its workers, so that no request pays for it.

Many views import what they need inside the function (to keep `web` light for the CLI and the tests). Under
gunicorn that import then happens in each forked worker on its first request: the first signed Twilio webhook
of each worker imported redis and rq (~0.45 s of CPU on a quiet machine, 2.6-4.2 s measured on a loaded one,
against a 2 s budget for answering Twilio). `import_lazy_modules` finds those imports in the source of the
`web` package (intake/runtime/warmup.py reads them with `ast`, so the list never goes stale) and imports them in
the master, where the forked workers inherit them.
"""

from __future__ import annotations

import pkgutil
from pathlib import Path

from intake.runtime.warmup import import_lazy
from intake.runtime.warmup import imports_inside_functions as imports_in_file

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
    """The absolute modules that `web` module `name` imports inside a function."""
    return imports_in_file(_module_path(name))


def lazy_imports() -> set[str]:
    """The modules that some view of `web` imports inside a function, and every module of `web` itself."""
    names = set(web_modules())
    for name in web_modules():
        names |= imports_inside_functions(name)
    return names


def import_lazy_modules() -> int:
    """Import what the views would import on their first request; the number of modules imported."""
    return len(import_lazy(lazy_imports()))
