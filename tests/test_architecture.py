"""The house follows the flow: imports go down the rooms of docs/architecture.md, never up, and never in a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Rooms from the bottom of the flow to the top: a module may import its own room and any room below it.
# (The same table is in docs/architecture.md; keep both in step.)
RANKS: tuple[tuple[str, ...], ...] = (
    (
        "intake.config",
        "intake.models",
        "intake.message",
        "intake.vocab",
        "intake.phones",
        "intake.masking",
        "intake.gsm",
        "intake.pseudonyms",
    ),
    ("intake.email", "intake.media", "intake.geocoding"),
    ("intake.runtime.db", "intake.runtime.sqlite_turns", "intake.runtime.queue", "intake.migrations"),
    ("intake.outbox",),
    ("intake.reports",),
    ("intake.pipeline",),
    ("intake.privacy",),
    ("intake.channels",),
    ("intake.backoffice",),
    ("intake.runtime",),
    ("intake.cli",),
)
# No import cycle is left; a new one fails the test below.
KNOWN_CYCLES: set[frozenset[str]] = set()


def modules(package: str) -> dict[str, Path]:
    """Every module of a top-level package, by dotted name."""
    out = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


ALL = {**modules("intake"), **modules("web"), **modules("classifiers")}


def _type_checking(node: ast.If) -> bool:
    return (
        isinstance(node.test, ast.Name)
        and node.test.id == "TYPE_CHECKING"
        or (isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")
    )


def imports(name: str, path: Path) -> set[str]:
    """Project modules `name` imports at run time, at any depth (a function-level import counts too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in ALL else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m.split(".")[0] in ("intake", "web", "classifiers")}


GRAPH = {name: imports(name, path) for name, path in ALL.items() if ".migrations.versions" not in name}


def rank(module: str) -> int | None:
    """The room's height of an intake module (longest matching prefix), None outside intake."""
    best: tuple[int, int] | None = None
    for height, prefixes in enumerate(RANKS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (height, len(prefix))
    return best[0] if best else None


def test_every_intake_module_has_a_room() -> None:
    homeless = sorted(m for m in GRAPH if m.startswith("intake.") and rank(m) is None)
    assert homeless == []


def test_imports_go_down_the_flow() -> None:
    upward = []
    for module, targets in GRAPH.items():
        here = rank(module)
        for target in targets:
            there = rank(target)
            if here is not None and there is not None and there > here:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_classifiers_import_neither_intake_nor_web_and_intake_never_imports_web() -> None:
    wrong = [
        f"{m} -> {t}"
        for m, targets in GRAPH.items()
        for t in targets
        if (m.startswith("classifiers") and t.split(".")[0] in ("intake", "web"))
        or (m.startswith("intake") and t.startswith("web"))
    ]
    assert wrong == []


def _cycles() -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH.get(v, ()):
            if w not in GRAPH:
                continue
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.add(frozenset(component))

    for v in sorted(GRAPH):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycle() -> None:
    cycles = _cycles()
    assert {tuple(sorted(c)) for c in cycles - KNOWN_CYCLES} == set(), "a new import cycle"


@pytest.mark.parametrize("stage", sorted(__import__("intake.pipeline.registry", fromlist=["x"]).BUILTIN_MODULES))
def test_every_stage_lives_in_a_file_named_after_it(stage: str) -> None:
    from intake.pipeline.registry import _REGISTRY, registered

    assert stage in registered()
    assert _REGISTRY[stage].__module__ == f"intake.pipeline.stages.{stage}"


# What a module of web/ may import from SQLAlchemy: the session's type, for annotations. Queries are built in
# intake/ (read models in intake/backoffice/, changes in intake/reports/, intake/channels/, intake/outbox/).
WEB_MAY_IMPORT_FROM_SQLALCHEMY = frozenset({"sqlalchemy.orm.Session"})
# Session methods that run a statement: web/ hands sessions to intake/ functions, it never runs one itself.
STATEMENT_METHODS = frozenset({"execute", "scalar", "scalars"})


def query_building(source: str) -> list[str]:
    """What in a module's source builds or runs a query: an import from SQLAlchemy other than the session type
    (select, update, delete, insert, func, text, or_, selectinload, the exceptions...), and calls of a session's
    execute/scalar/scalars. Imports under TYPE_CHECKING count too."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "sqlalchemy"]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy" and not node.level:
            found += [
                f"{node.module}.{a.name}"
                for a in node.names
                if f"{node.module}.{a.name}" not in WEB_MAY_IMPORT_FROM_SQLALCHEMY
            ]
        elif (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in STATEMENT_METHODS
        ):
            found.append(f".{node.func.attr}() line {node.lineno}")
    return found


def test_the_checker_sees_a_query_built_in_web() -> None:
    assert query_building("from sqlalchemy import select, func\n") == ["sqlalchemy.select", "sqlalchemy.func"]
    assert query_building("import sqlalchemy as sa\n") == ["import sqlalchemy"]
    assert query_building("from sqlalchemy.orm import Session, selectinload\n") == ["sqlalchemy.orm.selectinload"]
    assert query_building("def f(s):\n    return s.execute(q).all()\n") == [".execute() line 2"]
    assert query_building("from sqlalchemy.orm import Session\nfrom intake.models import Report\n") == []


def test_web_modules_build_no_query() -> None:
    """The web layer renders: no module of web/ builds or runs a query (no exception is listed)."""
    found = {name: query_building(path.read_text(encoding="utf-8")) for name, path in sorted(modules("web").items())}
    assert {name: what for name, what in found.items() if what} == {}
