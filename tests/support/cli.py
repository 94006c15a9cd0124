"""Run the `guichet` command in a process forked from the test process, as `python -m intake.cli` would run it.

A fresh interpreter pays 1-2 s of CPU importing SQLAlchemy, pydantic and the rest before the command starts (more
on a loaded machine), and the suite runs the command about a hundred times. The test process has imported all
of it already: a child forked from it runs the same `intake.cli.main.main` on its own standard streams, current
folder and environment, with what a fresh interpreter would have of the rest (no inherited database connection,
default signal handlers, warnings filters and root logger), and ends with the command's exit code. Commands that
stay running (`worker`, `serve`, `up`) and the tests of the entry point itself keep a real `python -m intake.cli`.
"""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

from intake.cli.main import main
from intake.runtime.db import forget_inherited_connections

ROOT = Path(__file__).resolve().parents[2]

# The interpreter's own defaults (python -W not given), which pytest's `filterwarnings = error` replaced here.
_DEFAULT_WARNINGS: tuple[tuple[Literal["default", "ignore"], type[Warning], str], ...] = (
    ("default", DeprecationWarning, "__main__"),
    ("ignore", DeprecationWarning, ""),
    ("ignore", PendingDeprecationWarning, ""),
    ("ignore", ImportWarning, ""),
    ("ignore", ResourceWarning, ""),
)


def run_guichet(
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str = ROOT,
    input: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`guichet ARGS` with `env` (default: this process's) in `cwd`, `input` on its standard input; its exit code
    and output as `subprocess.run(..., capture_output=True, text=True)` gives them. After `timeout` seconds the
    command and its children are killed and the test fails (as tests/support/procs.run does)."""
    return run_in_child(main, args, env=env, cwd=cwd, input=input, timeout=timeout, name="guichet")


def run_in_child(
    entry: Callable[[list[str]], int],
    args: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str = ROOT,
    input: str | None = None,
    timeout: float = 120,
    name: str = "",
) -> subprocess.CompletedProcess[str]:
    """`entry(ARGS)` in a forked child as a fresh `python -m` of its module would run it (see run_guichet); a
    child that ends with os._exit(N) (tests/support/crasher.py) exits N."""
    argv = [str(arg) for arg in args]
    name = name or getattr(entry, "__module__", "child")
    stdin_r, stdin_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child ends in os._exit
        for fd in (stdin_w, out_r, err_r):
            os.close(fd)
        _child(entry, argv, dict(os.environ if env is None else env), Path(cwd), stdin_r, out_w, err_w)
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}

    def drain(fd: int) -> None:
        with os.fdopen(fd, "rb") as pipe:
            while block := pipe.read1(65536):
                chunks[fd].append(block)

    def feed() -> None:
        with os.fdopen(stdin_w, "wb") as pipe:
            try:
                pipe.write((input or "").encode())
            except BrokenPipeError:  # the command did not read it all, as with subprocess.run
                pass

    threads = [threading.Thread(target=drain, args=(fd,), daemon=True) for fd in (out_r, err_r)]
    threads.append(threading.Thread(target=feed, daemon=True))
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout  # one budget for the whole command, not one per stream
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    if any(thread.is_alive() for thread in threads):
        os.killpg(pid, signal.SIGKILL)  # its own session: the command and whatever it started
        os.waitpid(pid, 0)
        err = b"".join(chunks[err_r]).decode("utf-8", errors="replace")
        raise AssertionError(f"{name} {' '.join(argv)} still running after {timeout} s; stderr: {err[-3000:]}")
    _, status = os.waitpid(pid, 0)
    return subprocess.CompletedProcess(
        [name, *argv],
        os.waitstatus_to_exitcode(status),
        b"".join(chunks[out_r]).decode("utf-8", errors="replace"),
        b"".join(chunks[err_r]).decode("utf-8", errors="replace"),
    )


def _child(
    entry: Callable[[list[str]], int], argv: list[str], env: dict[str, str], cwd: Path, stdin: int, out: int, err: int
) -> None:
    """In the forked child: the streams, folder, environment and defaults of a fresh process, then the command."""
    code = 1
    try:
        os.setsid()  # a session of its own, as tests/support/procs.run gives a command: killed as a group
        for fd, target in ((stdin, 0), (out, 1), (err, 2)):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", line_buffering=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", line_buffering=True)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        for number in (signal.SIGTERM, signal.SIGALRM, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(number, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        warnings.resetwarnings()
        for action, category, module in reversed(_DEFAULT_WARNINGS):
            warnings.filterwarnings(action, category=category, module=module)
        root = logging.getLogger()
        root.handlers = []
        root.setLevel(logging.WARNING)
        logging.disable(logging.NOTSET)
        forget_inherited_connections()  # the test's pooled connections belong to the test, never to the child
        code = entry(argv)
    except SystemExit as exc:  # argparse's usage errors, --help
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # what `python -m intake.cli` would print before exiting with 1
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # a closed pipe: nothing left to tell
                pass
        os._exit(code)
