#!/usr/bin/env bash
# The one quality gate, the same locally and in CI: installs what is missing (Python packages at the versions
# pinned in constraints.txt, see scripts/lock.sh), starts the services the tests need, then ruff, mypy, and pytest
# twice: against SQLite (everything) and PostgreSQL (database tests). Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

apt_missing=()
command -v python3 >/dev/null || apt_missing+=(python3)
python3 -c "import venv, ensurepip" 2>/dev/null || apt_missing+=(python3-venv)
command -v openssl >/dev/null || apt_missing+=(openssl)
command -v redis-server >/dev/null || apt_missing+=(redis-server)
# Debian's Chromium for the browser tests (tests/browser; `playwright install` cannot download here)
[ -x /usr/bin/chromium ] || apt_missing+=(chromium fonts-liberation)
# Pango for WeasyPrint (the work order's PDF, intake/outbox/workorder.py)
ldconfig -p | grep -q 'libpangoft2-1.0.so.0' || apt_missing+=(libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)
if [ ${#apt_missing[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${apt_missing[@]}"; fi
bash scripts/ensure-dovecot.sh
bash scripts/ensure-addok.sh

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade -c constraints.txt pip >/dev/null
.venv/bin/python -m pip install -q -c constraints.txt -e '.[test]'

# Redis: the machine's own on 127.0.0.1:6379 (tests use databases 9 and 11, one per worker); start it if it is down.
if ! .venv/bin/python -c "import redis; redis.Redis(socket_timeout=2).ping()" 2>/dev/null; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/guichet-tests.log
  sleep 1
fi
# PostgreSQL: the machine's own on 127.0.0.1:5432 (trust); start it if it is down, then a test database (each
# pytest-xdist worker makes its own beside it: guichet_test_gw0, guichet_test_gw1).
PG_URL="${GUICHET_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/guichet_test}"
pg_ready() { .venv/bin/python -c "import psycopg; psycopg.connect('host=127.0.0.1 user=postgres dbname=postgres', connect_timeout=3).close()" 2>/dev/null; }
if ! pg_ready && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  sleep 2
fi
.venv/bin/python - "$PG_URL" <<'PY'
import sys, psycopg
from sqlalchemy.engine import make_url
url = make_url(sys.argv[1])
with psycopg.connect(host=url.host, port=url.port or 5432, user=url.username, dbname="postgres", autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)).fetchone():
        conn.execute(f'CREATE DATABASE "{url.database}"')
PY

.venv/bin/ruff check intake classifiers web worker.py tests bench
.venv/bin/mypy
# Two pytest-xdist workers (the machine has 2 cores). loadgroup: each module stays on one worker (its module
# fixtures are built once) and tests/browser as a whole (one live server, one Chromium); each worker has its own
# Redis index and PostgreSQL database (tests/conftest.py). The per-test timeout is pyproject.toml's.
# GUICHET_TEST_REDIS_URL, when set, must name one URL per worker, comma-separated.
PYTEST=(.venv/bin/pytest -q -n "${GUICHET_TEST_WORKERS:-2}" --dist loadgroup --durations=10)
echo "== pytest: SQLite =="
env -u GUICHET_TEST_DATABASE_URL "${PYTEST[@]}" "$@"
echo "== pytest: PostgreSQL (database tests) =="
GUICHET_TEST_DATABASE_URL="$PG_URL" "${PYTEST[@]}" -m db "$@"
