"""How pytest-xdist shares the tests between workers: small work units, the longest first.

`--dist loadgroup` hands a worker one work unit at a time (a group of tests, or a single test without a group)
and, without being told otherwise, orders the units by their number of tests. A module of six tests that wait
on real servers for two minutes then starts last and runs alone while the other worker idles. Instead:

- tests are grouped only when they share something costly or stateful: the browser folder (one live server and
  one Chromium over the worker's database), tests using a fixture of module, class or package scope (their
  module or package), tests using one of SHARED_SESSION_FIXTURES (built once per worker: keep them on one);
- every other test is a unit of its own;
- units are ordered by their expected duration, longest first (DURATIONS_FILE: seconds per test measured on a
  full run, DEFAULT_SECONDS for the others), so that the last units to start are short ones.

Refresh the durations after a run with `--junitxml=FILE`: `python -m tests.support.schedule FILE`.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DURATIONS_FILE = Path(__file__).with_name("durations.json")
DEFAULT_SECONDS = 0.3  # most tests take a tenth of a second to a second
MIN_RECORDED_SECONDS = 1.0  # shorter tests are not written to DURATIONS_FILE
# Session fixtures costly to build (addok's import of its reference: ~15 s) or holding state shared by their
# tests: the tests using them stay on one worker.
SHARED_SESSION_FIXTURES = frozenset({"addok"})
# Folders whose tests run as one unit on one worker (package fixtures: one live server and one Chromium).
ONE_WORKER_FOLDERS = {"browser": "tests/browser"}
_GROUPED_SCOPES = {"module", "class", "package"}


def group_of(item: pytest.Item) -> str | None:
    """The xdist group of a test, or None when it may run on any worker, alone."""
    module = item.nodeid.split("::")[0]
    for name, folder in ONE_WORKER_FOLDERS.items():
        if module.startswith(folder + "/"):
            return name
    info = getattr(item, "_fixtureinfo", None)
    definitions: dict[str, Any] = getattr(info, "name2fixturedefs", {}) if info is not None else {}
    shared = sorted(SHARED_SESSION_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if shared:
        return "fixture:" + shared[0]
    scopes = {fixturedef.scope for fixturedefs in definitions.values() for fixturedef in fixturedefs}
    if "package" in scopes:
        return module.rsplit("/", 1)[0]
    if scopes & _GROUPED_SCOPES:
        return module
    return None


def load_durations(path: Path = DURATIONS_FILE) -> dict[str, float]:
    """Measured seconds per test id (empty when the file is missing or unreadable: the order is then a guess)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def longest_first(items: list[pytest.Item], groups: dict[str, str | None],
                  durations: dict[str, float]) -> list[pytest.Item]:
    """The items reordered so that the work units expected to last longest come first.

    A unit's items keep their order and stay together; ties keep the collection order.
    """
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(groups[item.nodeid] or item.nodeid, []).append(item)

    def cost(unit: list[pytest.Item]) -> float:
        return sum(durations.get(item.nodeid, DEFAULT_SECONDS) for item in unit)

    ordered = sorted(units.values(), key=cost, reverse=True)  # sorted() is stable: ties keep collection order
    return [item for unit in ordered for item in unit]


def record(junit_xml: Path, path: Path = DURATIONS_FILE) -> int:
    """Write the durations of a JUnit XML report (setup, call and teardown) to `path`; returns how many."""
    found: dict[str, float] = {}
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        seconds = float(case.get("time") or 0)
        if seconds < MIN_RECORDED_SECONDS:
            continue
        name = case.get("name") or ""
        if name.rfind("@") > name.rfind("]"):  # the xdist group suffixed by --dist loadgroup
            name = name.rsplit("@", 1)[0]
        parts = (case.get("classname") or "").split(".")
        for cut in range(len(parts), 0, -1):  # the longest prefix naming a file: the rest are classes
            module = "/".join(parts[:cut]) + ".py"
            if (ROOT / module).is_file():
                found["::".join([module, *parts[cut:], name])] = round(seconds, 1)
                break
    path.write_text(json.dumps(dict(sorted(found.items())), indent=1) + "\n", encoding="utf-8")
    return len(found)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m tests.support.schedule JUNIT_XML")
    print(f"{record(Path(sys.argv[1]))} durations written to {DURATIONS_FILE}")
