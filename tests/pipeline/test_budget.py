"""The budget runner: work in a forked child stopped by the kernel when over its CPU time or memory."""

from __future__ import annotations

import os
import time

import pytest

from intake.pipeline.budget import Budget, BudgetExceeded, ChildFailed, run_bounded

ROOMY = Budget(cpu_seconds=10, wall_seconds=30, memory_mb=256)


def test_result_comes_back_from_the_child() -> None:
    parent = os.getpid()
    pid, value = run_bounded(lambda: (os.getpid(), {"a": [1, 2, 3]}), ROOMY)
    assert pid != parent and value == {"a": [1, 2, 3]}


def test_exception_crosses_back_with_its_type_and_message() -> None:
    def work() -> None:
        raise KeyError("clé absente")

    with pytest.raises(ChildFailed) as info:
        run_bounded(work, ROOMY)
    assert info.value.type_name == "KeyError" and "clé absente" in str(info.value)
    assert isinstance(info.value.original, KeyError)


def test_endless_computation_is_stopped_by_its_cpu_budget() -> None:
    def spin() -> None:
        while True:
            pass

    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match="délai d'analyse dépassé"):
        run_bounded(spin, Budget(cpu_seconds=1, wall_seconds=60, memory_mb=256))
    # CPU seconds, not wall seconds: on a loaded machine 1 s of CPU can take longer than 1 s to accrue.
    assert time.monotonic() - started < 60


def test_blocked_work_is_stopped_by_its_wall_clock_budget() -> None:
    reader, writer = os.pipe()

    def block() -> bytes:
        return os.read(reader, 1)  # nobody ever writes: blocked without using CPU

    try:
        with pytest.raises(BudgetExceeded, match="délai d'analyse dépassé"):
            run_bounded(block, Budget(cpu_seconds=10, wall_seconds=1, memory_mb=256))
    finally:
        os.close(reader)
        os.close(writer)


def test_memory_hog_is_stopped_by_its_memory_budget() -> None:
    def hog() -> int:
        chunks = [bytearray(16 * 1024 * 1024) for _ in range(64)]  # 1 GiB asked, 64 MiB allowed
        return len(chunks)

    with pytest.raises(BudgetExceeded, match="mémoire"):
        run_bounded(hog, Budget(cpu_seconds=10, wall_seconds=60, memory_mb=64))


def test_a_child_killed_by_a_signal_is_a_budget_failure_not_a_hang() -> None:
    def die() -> None:
        os.kill(os.getpid(), 9)

    with pytest.raises(BudgetExceeded, match="arrêtée"):
        run_bounded(die, ROOMY)


def test_the_parent_keeps_working_after_many_children() -> None:
    assert [run_bounded(lambda i=i: i * i, ROOMY) for i in range(20)] == [i * i for i in range(20)]


def test_one_child_reads_a_batch_and_only_the_item_over_budget_fails() -> None:
    from intake.pipeline.budget import run_each

    def work(item: str) -> tuple[int, str]:
        if item == "spin":
            while True:
                pass
        if item == "die":
            os.kill(os.getpid(), 9)
        if item == "raise":
            raise ValueError("illisible")
        return os.getpid(), item.upper()

    items = ["a", "b", "spin", "c", "raise", "d", "die", "e"]
    results = run_each(work, items, Budget(cpu_seconds=1, wall_seconds=60, memory_mb=256))
    assert [r.value[1] if r.value else None for r in results] == ["A", "B", None, "C", None, "D", None, "E"]
    assert isinstance(results[2].error, BudgetExceeded) and "délai" in str(results[2].error)
    assert isinstance(results[4].error, ChildFailed) and "illisible" in str(results[4].error)
    assert isinstance(results[6].error, BudgetExceeded)
    pids = [r.value[0] for r in results if r.value]
    # a, b share the first child; c and d the second (after "spin" killed the first); e the third
    assert pids[0] == pids[1] and pids[2] == pids[3] and len(set(pids)) == 3
