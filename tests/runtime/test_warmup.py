"""A worker imports, before its threads start and its horses fork, what its jobs and threads import on first use.

Without it, each forked work horse imported those modules again per job (the work order's PDF library ~1 s), and a
horse forked while a thread (ticker, upkeep, IDLE watcher) was importing a module waited for that module's
import lock forever: the lock's holder does not exist in the child.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from intake.config import Config
from intake.runtime.warmup import NOT_IN_A_WORKER, imports_inside_functions, lazy_imports, worker_files
from tests.conftest import ROOT, write_config
from tests.support.procs import run

# In a fresh interpreter: the test process has imported everything already.
PREPARE = """
import importlib.util, json, sys
from intake.config import load_config
from intake.runtime.warmup import NOT_IN_A_WORKER, lazy_imports, under, worker_files
import worker

worker._prepare(load_config())
missing = []
for name in sorted(lazy_imports(worker_files())):
    if name in sys.modules or under(name, NOT_IN_A_WORKER):
        continue
    parent = name.rpartition(".")[0]
    if parent in sys.modules and not hasattr(sys.modules[parent], "__path__"):
        continue  # `from module import function`: no submodule to import
    if parent in sys.modules and importlib.util.find_spec(name) is None:
        continue  # `from package import function`
    missing.append(name)
print(json.dumps({"missing": missing, "spacy_lang_fr": "spacy.lang.fr" in sys.modules}))
"""


def test_a_prepared_worker_has_imported_what_its_jobs_and_threads_import_later(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    env = {**os.environ, "GUICHET_CONFIG": str(write_config(make_config(), tmp_path / "config.yaml"))}
    done = run([sys.executable, "-c", PREPARE], cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["missing"] == []
    assert answer["spacy_lang_fr"] is False  # the warm-up does not bring back spaCy's 3.5 s French regexes


def test_the_threads_lazy_imports_are_read_from_the_source() -> None:
    scheduler = ROOT / "intake" / "runtime" / "scheduler.py"
    assert {"intake.channels.imap", "intake.channels.mailboxes"} <= imports_inside_functions(scheduler)
    names = lazy_imports(worker_files())
    assert "intake.runtime.jobs" in names and "weasyprint" in names
    assert "aiosmtpd" in NOT_IN_A_WORKER and ROOT / "worker.py" in worker_files()
