"""Back-office latency with a town-sized history: the queue, a report and the map data over N reports.

Run: .venv/bin/python bench/queue_bench.py [--reports 100000] [--requests 40] [--database-url URL]
Drops and recreates the database (PostgreSQL `guichet_bench` by default), migrates it, bulk-inserts N
realistic reports (bench/seed.py), starts the back office with `guichet serve` (gunicorn), then measures
with `requests`, one request at a time, the p50/p95/max latency of each page. Pages that do not exist yet
are listed as skipped. Then each page is rendered once more in-process with every SQL statement timed,
and the slowest statements are printed, with PostgreSQL's EXPLAIN ANALYZE of the slowest one per page.
"""

from __future__ import annotations

import argparse
import html
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.scratch_db import recreate  # noqa: E402
from bench.seed import seed  # noqa: E402
from intake.models import Report  # noqa: E402
from intake.runtime.db import make_engine, migrate  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/guichet_bench"


@dataclass
class Page:
    """One measured page: a label and the URLs requested in turn (several: no cache helps)."""

    label: str
    urls: list[str]


def free_port() -> int:
    """A TCP port free on loopback right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    """`guichet serve` on loopback over the benchmark database (its log in `log`); returns once /sante answers."""
    import requests

    # gunicorn's default 30 s worker timeout would kill the slowest pages instead of measuring them
    env = {**os.environ, "GUICHET_DATABASE_URL": url, "GUNICORN_CMD_ARGS": "--timeout 600"}
    env.pop("GUICHET_REDIS_URL", None)
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe nobody reads would block the server
        proc = subprocess.Popen(
            [
                str(ROOT / ".venv" / "bin" / "guichet"),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"guichet serve stopped: {log.read_text(errors='replace')[-2000:]}")
        try:
            if requests.get(f"http://127.0.0.1:{port}/sante", timeout=5).status_code == 200:
                return proc
        except requests.RequestException:  # not listening yet, or a worker still booting
            pass
        time.sleep(0.5)
    stop_server(proc)
    raise SystemExit("guichet serve did not answer within 180 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn (its own process group) and wait for it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def deep_page(client: Any, total: int) -> tuple[str, str]:
    """(label, URL) of a page of the queue half-way through history, however the queue paginates."""
    first = client.get("/").get_data(as_text=True)
    link = re.search(r'href="([^"]*)"[^>]*rel="next"|rel="next"[^>]*href="([^"]*)"', first)
    href = html.unescape((link.group(1) or link.group(2)) if link else "")
    if re.search(r"[?&]avant=\d+", href):  # keyset pagination on the report id
        return "file : page profonde (avant=id médian)", re.sub(r"avant=\d+", f"avant={total // 2}", href)
    number = max(1, total // 50 // 2)
    return f"file : page profonde (page={number})", f"/?page={number}"


def pages(
    url: str, client: Any, app_rules: list[Any], rng: random.Random, samples: int
) -> tuple[list[Page], list[str]]:
    """The pages to measure over this database, and what was skipped (with why)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(Report)).scalar_one()
        ids = sorted(rng.sample(range(1, total + 1), min(samples, total)))
        rows = conn.execute(select(Report.tracking_number, Report.public_token).where(Report.id.in_(ids))).all()
        busiest = conn.execute(
            select(Report.duplicate_of_id)
            .where(Report.duplicate_of_id.is_not(None))
            .group_by(Report.duplicate_of_id)
            .order_by(func.count().desc())
            .limit(1)
        ).scalar()
        busiest_number = conn.execute(select(Report.tracking_number).where(Report.id == busiest)).scalar()
    engine.dispose()
    deep_label, deep_url = deep_page(client, total)
    out = [
        Page("file : 1re page", ["/"]),
        Page("file : filtrée (statut=en_cours)", ["/?statut=en_cours"]),
        Page("file : filtrée (statut=a_qualifier)", ["/?statut=a_qualifier"]),
        Page(deep_label, [deep_url]),
        Page("signalement (au hasard)", [f"/signalements/{n}" for n, _ in rows]),
        Page("suivi public (au hasard)", [f"/suivi/{t}" for _, t in rows]),
    ]
    if busiest_number:
        out.append(Page("signalement avec le plus de doublons", [f"/signalements/{busiest_number}"]))
    skipped = []
    paths = {rule.rule for rule in app_rules if "GET" in rule.methods and not rule.arguments}
    maps = sorted(p for p in paths if ("carte" in p or "map" in p) and "commune" not in p)
    if maps:
        out.extend(Page(f"carte : {p}", [p]) for p in maps)
    else:
        skipped.append("carte : aucun point d'accès des données de la carte (pas encore construit)")
    if "/open311/v2/requests.<fmt>" in {rule.rule for rule in app_rules}:
        out.append(Page("open311 : requests.json (liste publique)", ["/open311/v2/requests.json"]))
    return out, skipped


def add_admin(url: str) -> tuple[str, str]:
    """A fresh administrator account in the benchmark database (administrators see every service)."""
    import secrets

    from intake.backoffice.accounts import create_user
    from intake.config import load_config
    from intake.runtime.db import make_sessionmaker

    username, password = f"bench-{secrets.token_hex(4)}", secrets.token_urlsafe(24)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session, session.begin():
        create_user(
            session, load_config(), username=username, password=password, role="admin", display_name="Banc d'essai"
        )
    engine.dispose()
    return username, password


def signed_in(base: str, username: str, password: str) -> Any:
    """A requests session signed in through the real sign-in form (CSRF token included)."""
    import requests

    session = requests.Session()
    form = session.get(f"{base}/connexion", timeout=60).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    if token is None:
        raise SystemExit("no sign-in form at /connexion")
    answer = session.post(
        f"{base}/connexion",
        data={"identifiant": username, "mot_de_passe": password, "csrf_token": token.group(1)},
        allow_redirects=False,
        timeout=60,
    )
    if answer.status_code != 303:
        raise SystemExit(f"sign-in refused ({answer.status_code})")
    return session


def measure(
    session: Any, base: str, page: Page, *, requests_n: int, budget_s: float, warmup: int = 1
) -> dict[str, Any]:
    """Latencies of up to `requests_n` sequential GETs of the page's URLs (after a warm-up), in milliseconds.

    A page slower than `budget_s` in total stops early (at least 3 requests): its n says so.
    """
    import requests

    for url in page.urls[:warmup]:
        session.get(base + url, timeout=600)
    times, sizes, statuses = [], [], set()
    started = time.perf_counter()
    for i in range(requests_n):
        if i >= 3 and time.perf_counter() - started > budget_s:
            break
        url = page.urls[i % len(page.urls)]
        start = time.perf_counter()
        try:
            response = session.get(base + url, timeout=600, allow_redirects=False)
        except requests.RequestException as exc:  # measured as what the agent would get: nothing
            times.append((time.perf_counter() - start) * 1000)
            statuses.add(type(exc).__name__)
            continue
        times.append((time.perf_counter() - start) * 1000)
        sizes.append(len(response.content))
        statuses.add(response.status_code)
    times.sort()
    return {
        "n": len(times),
        "p50": statistics.median(times),
        "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "max": times[-1],
        "kb": statistics.mean(sizes) / 1024 if sizes else 0.0,
        "status": ",".join(sorted(map(str, statuses))),
    }


def short(statement: str) -> str:
    """A statement on one line without its column list and runs of placeholders."""
    one = " ".join(statement.split())
    one = re.sub(r"^SELECT .+? FROM ", "SELECT … FROM ", one)
    return re.sub(r"(\?|%\(\w+\)s)(, (\?|%\(\w+\)s))+", "…", one)[:400]


def sql_profile(client: Any, engine: Any, url: str) -> tuple[float, list[tuple[float, str, Any]]]:
    """Render the page in-process: its total time (ms) and every SQL statement with its duration, slowest first."""
    seen: list[tuple[float, str, Any]] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        conn.info.setdefault("bench_start", []).append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        seen.append(((time.perf_counter() - conn.info["bench_start"].pop()) * 1000, statement, params))

    client.get(url)  # warm caches as the measured server had them
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    start = time.perf_counter()
    try:
        client.get(url)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
    return (time.perf_counter() - start) * 1000, sorted(seen, key=lambda s: -s[0])


def explain(engine: Any, statement: str, params: Any) -> list[str]:
    """PostgreSQL's plan of one statement, as run (EXPLAIN ANALYZE, BUFFERS)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        lines = [row[0] for row in cursor.fetchall()]
        raw.rollback()
        return lines
    finally:
        raw.close()


def main(argv: list[str] | None = None) -> int:
    """Seed, serve, measure, print the latency table and the slowest SQL of each page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=40, help="requests per page")
    parser.add_argument("--budget", type=float, default=60, help="seconds per page at most (3 requests at least)")
    parser.add_argument("--database-url", default=DEFAULT_URL, help="recreated if a bench created it")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (requests are sequential)")
    parser.add_argument("--no-seed", action="store_true", help="reuse the database as it is")
    parser.add_argument("--no-sql", action="store_true", help="skip the per-page SQL profile")
    args = parser.parse_args(argv)
    url = args.database_url
    os.environ["GUICHET_DATABASE_URL"] = url
    os.environ.pop("GUICHET_REDIS_URL", None)
    if not args.no_seed:
        recreate(url)
        migrate(url)
        print(f"seed: {seed(url, args.reports).line()}", flush=True)
    from web import create_app

    app = create_app()
    username, password = add_admin(url)
    client = app.test_client()  # in-process, signed in: finds the pages, then profiles their SQL
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/connexion").get_data(as_text=True))
    client.post(
        "/connexion",
        data={"identifiant": username, "mot_de_passe": password, "csrf_token": token.group(1) if token else ""},
    )
    measured, skipped = pages(url, client, list(app.url_map.iter_rules()), random.Random(7), args.requests)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = ROOT / "bench" / "results" / "queue_bench-gunicorn.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    proc = start_server(url, port, args.workers, log)
    results = []
    try:
        session = signed_in(base, username, password)
        for page in measured:
            results.append((page, measure(session, base, page, requests_n=args.requests, budget_s=args.budget)))
            print(".", end="", flush=True)
    finally:
        stop_server(proc)
    backend = make_url(url).get_backend_name()
    print(
        f"\n\n{args.reports if not args.no_seed else '?'} reports, {backend}, gunicorn x{args.workers}, "
        f"{args.requests} sequential requests per page (ms); server log: {log}"
    )
    print(f"{'page':<44}{'n':>4}{'p50':>9}{'p95':>9}{'max':>9}{'KB':>8}  HTTP  first URL")
    for page, r in results:
        print(
            f"{page.label:<44}{r['n']:>4}{r['p50']:>9.1f}{r['p95']:>9.1f}{r['max']:>9.1f}{r['kb']:>8.1f}  "
            f"{r['status']:<5} {page.urls[0]}"
        )
    for line in skipped:
        print(f"skipped: {line}")
    if args.no_sql:
        return 0
    engine = app.extensions["guichet"].engine
    print("\nslowest SQL per page (in-process, one render):")
    for page in measured:
        elapsed, stmts = sql_profile(client, engine, page.urls[0])
        total = sum(s[0] for s in stmts)
        print(f"\n== {page.label}: {elapsed:.1f} ms in-process, of which {total:.1f} ms in {len(stmts)} SQL statements")
        for ms, statement, _ in stmts[:3]:
            print(f"  {ms:8.1f} ms  {short(statement)}")
        if backend == "postgresql" and stmts and stmts[0][0] > 20:
            print("  EXPLAIN ANALYZE of the slowest:")
            for line in explain(engine, stmts[0][1], stmts[0][2])[:25]:
                print(f"    {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
