"""Sign-in failures (S7): counted atomically, the same answer for any username, throttled per client address."""

from __future__ import annotations

import html
import re
import statistics
import threading
import time
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from intake.backoffice.accounts import MAX_ATTEMPTS
from intake.config import Config
from intake.models import RateCounter, User
from tests.support.web import PASSWORD, add_user, csrf_token
from web import create_app

pytestmark = pytest.mark.db


@pytest.fixture
def app(make_config: Callable[..., Config]) -> Flask:
    return create_app(make_config())


def _client(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _attempt(client: FlaskClient, username: str, password: str, token: str | None = None) -> tuple[int, str]:
    """Post the sign-in form; (status, the page's message)."""
    token = token or csrf_token(client, "/connexion")
    answer = client.post("/connexion", data={"identifiant": username, "mot_de_passe": password, "csrf_token": token})
    page = html.unescape(answer.get_data(as_text=True))
    found = re.search(r'<p class="alerte" role="alert" id="connexion-erreur">(.*?)</p>', page, re.S)
    return answer.status_code, (found.group(1).lower() if found else "")


def _parallel(app: Flask, addresses: list[str], username: str) -> list[tuple[int, str]]:
    """One wrong password per address, all posted at the same moment."""
    clients = [_client(app, address) for address in addresses]
    tokens = [csrf_token(c, "/connexion") for c in clients]
    barrier = threading.Barrier(len(clients))
    answers: list[tuple[int, str]] = [(0, "")] * len(clients)

    def run(i: int) -> None:
        barrier.wait(timeout=30)
        answers[i] = _attempt(clients[i], username, "pas le bon mot de passe", tokens[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return answers


def test_twenty_parallel_wrong_passwords_are_twenty_failures(app: Flask) -> None:
    name = add_user(app, "admin")
    answers = _parallel(app, [f"10.0.0.{i}" for i in range(1, 21)], name)
    assert [status for status, _ in answers] == [401] * 20
    with app.extensions["guichet"].factory() as s:
        assert s.execute(select(User.failed_logins).where(User.username == name)).scalar_one() == 20


def test_parallel_guesses_from_one_address_are_all_counted(app: Flask) -> None:
    name = add_user(app, "admin")
    answers = _parallel(app, ["10.0.1.1"] * 20, name)
    throttled = [message for status, message in answers if "trop de tentatives" in message]
    assert len(throttled) == 20 - MAX_ATTEMPTS  # at most MAX_ATTEMPTS passwords were ever checked
    with app.extensions["guichet"].factory() as s:
        assert s.execute(select(RateCounter.hits).where(RateCounter.key == "connexion:10.0.1.1")).scalar_one() == 20
        assert s.execute(select(User.failed_logins).where(User.username == name)).scalar_one() == MAX_ATTEMPTS


def test_throttle_is_per_address_and_never_locks_the_account_for_everyone(app: Flask) -> None:
    name = add_user(app, "admin")
    attacker = _client(app, "192.0.2.66")
    for _ in range(MAX_ATTEMPTS):
        assert _attempt(attacker, name, "devine")[0] == 401
    status, message = _attempt(attacker, name, PASSWORD)  # even the right password: this address waits
    assert status == 401 and "trop de tentatives de connexion depuis votre adresse" in message
    assert _attempt(attacker, "personne-de-connu", "devine") == (status, message)  # same for an unknown name
    owner = _client(app, "198.51.100.7")
    token = csrf_token(owner, "/connexion")
    answer = owner.post("/connexion", data={"identifiant": name, "mot_de_passe": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303  # the admin, elsewhere, signs in as usual


def test_unknown_and_existing_usernames_answer_alike_and_as_fast(app: Flask) -> None:
    name = add_user(app, "accueil")
    timings: dict[str, list[float]] = {"existing": [], "unknown": []}
    answers: dict[str, set[tuple[int, str]]] = {"existing": set(), "unknown": set()}
    for i in range(4):
        for kind, username in (("existing", name), ("unknown", f"inconnu{i}")):
            client = _client(app, f"203.0.113.{i * 2 + (kind == 'unknown')}")
            token = csrf_token(client, "/connexion")
            started = time.perf_counter()
            answers[kind].add(_attempt(client, username, "mauvais mot de passe", token))
            timings[kind].append(time.perf_counter() - started)
    assert answers["existing"] == answers["unknown"] and len(answers["unknown"]) == 1
    assert next(iter(answers["unknown"]))[0] == 401
    fast, slow = sorted(statistics.median(t) for t in timings.values())
    assert slow < fast * 2.5, timings  # both verify one argon2 hash; a skipped check would be 10x faster
