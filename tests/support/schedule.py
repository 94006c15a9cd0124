"""How pytest-xdist shares the tests between workers: small work units, the longest first.

`--dist loadgroup` hands a worker one work unit at a time and, left alone, orders the units by their number of
tests, so a module of six tests that wait on real servers for two minutes starts last and runs alone while the
other worker idles. Worse, with pytest 9.2 its `xdist_group` markers have no effect (pytest-xdist 3.8 renames
`item._nodeid`, which pytest no longer reads): every test was a unit of its own, the browser tests and addok's
server split over both workers. Here, through the `pytest_xdist_make_scheduler` hook (tests/conftest.py):

- tests are grouped only when they share something costly or stateful (GROUPS: the browser folder, with one live
  server and one Chromium over the worker's database; addok's server and its fixed Redis databases; modules with
  fixtures of module scope); every other test is a unit of its own;
- each worker checks, after collecting, that any test using a fixture of module, class or package scope, or one
  of SHARED_SESSION_FIXTURES, belongs to a group (a new such module must be added to GROUPS);
- units run longest first (DURATIONS_FILE: seconds per test measured on a full run, DEFAULT_SECONDS for the
  others), so that the last units to start are short ones.

Refresh the durations from full runs made with `--junitxml=FILE`: `python -m tests.support.schedule FILE...`.
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
# Work units of more than one test, by path prefix (a folder ending in "/", or a module): the first match wins.
GROUPS: dict[str, str] = {
    "tests/browser/": "browser",  # package fixtures: one live server, one Chromium
    "tests/geocoding/test_addok.py": "addok",  # one addok server per worker, on Redis databases 14 and 15
    "tests/geocoding/test_reference.py": "addok",
    "tests/classifiers/test_address_corpus.py": "tests/classifiers/test_address_corpus.py",
    "tests/test_config_documented.py": "tests/test_config_documented.py",
}
# Session fixtures costly to build (addok imports its reference: ~15 s) or holding state of their own.
SHARED_SESSION_FIXTURES = frozenset({"addok"})
_GROUPED_SCOPES = {"module", "class", "package"}


def group_of(nodeid: str) -> str | None:
    """The work unit a test belongs to with others (GROUPS), or None when it is a unit of its own."""
    for prefix, group in GROUPS.items():
        if nodeid.startswith(prefix) if prefix.endswith("/") else nodeid.split("::")[0] == prefix:
            return group
    return None


def check_groups(items: list[pytest.Item]) -> None:
    """Fail the run when a test shares a fixture wider than itself but is not in a group of GROUPS."""
    missing = set()
    for item in items:
        if group_of(item.nodeid) is not None:
            continue
        info = getattr(item, "_fixtureinfo", None)
        definitions: dict[str, Any] = getattr(info, "name2fixturedefs", {}) if info is not None else {}
        scopes = {fixturedef.scope for fixturedefs in definitions.values() for fixturedef in fixturedefs}
        if scopes & _GROUPED_SCOPES or SHARED_SESSION_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            missing.add(item.nodeid.split("::")[0])
    if missing:
        raise pytest.UsageError(
            f"{', '.join(sorted(missing))}: shares a fixture between tests but is not in "
            "tests/support/schedule.py GROUPS (its tests would be split over the workers)"
        )


def load_durations(path: Path = DURATIONS_FILE) -> dict[str, float]:
    """Measured seconds per test id (empty when the file is missing or unreadable: the order is then a guess)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): float(v) for k, v in data.items()} if isinstance(data, dict) else {}


def longest_first(items: list[pytest.Item], durations: dict[str, float]) -> list[pytest.Item]:
    """The items reordered so that the work units expected to last longest come first.

    A unit's items keep their order and stay together; ties keep the collection order.
    """
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(group_of(item.nodeid) or item.nodeid, []).append(item)

    def cost(unit: list[pytest.Item]) -> float:
        return sum(durations.get(item.nodeid, DEFAULT_SECONDS) for item in unit)

    ordered = sorted(units.values(), key=cost, reverse=True)  # sorted() is stable: ties keep collection order
    return [item for unit in ordered for item in unit]


def make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist's scope scheduling with GROUPS as its scopes, taking the units in collection order."""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid) or nodeid

    config.option.loadscopereorder = False  # the workers already put the longest units first
    return GroupScheduling(config, log)


def record(junit_xmls: list[Path], path: Path = DURATIONS_FILE) -> int:
    """Write to `path` the mean duration of each test (setup, call and teardown) over JUnit XML reports of full
    runs; returns how many tests were written."""
    seen: dict[str, list[float]] = {}
    for junit_xml in junit_xmls:
        for case in ET.parse(junit_xml).getroot().iter("testcase"):
            name = case.get("name") or ""
            if name.rfind("@") > name.rfind("]"):  # an xdist group suffixed by --dist loadgroup
                name = name.rsplit("@", 1)[0]
            parts = (case.get("classname") or "").split(".")
            for cut in range(len(parts), 0, -1):  # the longest prefix naming a file: the rest are classes
                module = "/".join(parts[:cut]) + ".py"
                if (ROOT / module).is_file():
                    seen.setdefault("::".join([module, *parts[cut:], name]), []).append(float(case.get("time") or 0))
                    break
    means = {nodeid: round(sum(times) / len(times), 1) for nodeid, times in seen.items()}
    found = {nodeid: seconds for nodeid, seconds in sorted(means.items()) if seconds >= MIN_RECORDED_SECONDS}
    path.write_text(json.dumps(found, indent=1) + "\n", encoding="utf-8")
    return len(found)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m tests.support.schedule JUNIT_XML...")
    print(f"{record([Path(arg) for arg in sys.argv[1:]])} durations written to {DURATIONS_FILE}")
