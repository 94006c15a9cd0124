"""Importing intake.backoffice.accounts hashes nothing: the dummy hash of unknown usernames is made on first use,
once per process, even when several sign-ins ask for it at the same moment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter: the module must be imported for the first time, with argon2's hash counted.
SCRIPT = """
import threading
import argon2

calls = []
original = argon2.PasswordHasher.hash

def counting(self, password, *args, **kwargs):
    calls.append(password)
    return original(self, password, *args, **kwargs)

argon2.PasswordHasher.hash = counting
import intake.backoffice.accounts as accounts

at_import = len(calls)
barrier = threading.Barrier(8)
seen = []

def sign_in():
    barrier.wait(timeout=60)
    seen.append(accounts.dummy_hash())

threads = [threading.Thread(target=sign_in) for _ in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join(timeout=120)
print(at_import, len(calls), len(seen), len(set(seen)))
"""


def test_importing_accounts_hashes_nothing_and_the_dummy_hash_is_made_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stderr
    at_import, hashed, answered, distinct = map(int, done.stdout.split())
    assert at_import == 0  # nothing at import
    assert hashed == 1 and answered == 8 and distinct == 1  # one hash, shared by the 8 parallel sign-ins


def test_the_dummy_hash_is_argon2id_kept_and_opens_nothing() -> None:
    from argon2 import PasswordHasher
    from argon2.exceptions import VerificationError

    from intake.backoffice.accounts import dummy_hash

    digest = dummy_hash()
    assert digest is dummy_hash() and digest.startswith("$argon2id$")  # the same object: computed once
    with pytest.raises(VerificationError):
        PasswordHasher().verify(digest, "n'importe quoi")
