"""A batch read in one child: an item that stops the child after others is tried again alone before being blamed."""

from __future__ import annotations

import os

from intake.pipeline.budget import Budget, BudgetExceeded, run_each

_READ_HERE: list[str] = []  # what this (forked) child has read so far


def _work(item: str) -> tuple[int, str]:
    if item == "fragile" and _READ_HERE:  # fails only in a child that read others first (memory used by them)
        os._exit(9)
    if item == "die":
        os._exit(9)
    _READ_HERE.append(item)
    return os.getpid(), item.upper()


def test_an_item_failing_after_others_is_retried_alone_and_only_a_real_culprit_is_parked() -> None:
    results = run_each(_work, ["a", "fragile", "b", "die", "c"], Budget(cpu_seconds=5, wall_seconds=60, memory_mb=256))

    assert [r.value[1] if r.value else None for r in results] == ["A", "FRAGILE", "B", None, "C"]
    assert isinstance(results[3].error, BudgetExceeded) and "arrêtée" in str(results[3].error)
    pids = [r.value[0] for r in results if r.value]
    assert pids[0] != pids[1]  # "fragile" was read again in a fresh child, alone
    assert len(set(pids)) == 4  # a | fragile alone | b (its child then died on "die", tried alone) | c
    assert _READ_HERE == []  # all of it happened in children
