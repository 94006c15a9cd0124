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
# The packages are installed only when the pins or pyproject.toml changed since the last install here. uv (pinned
# in constraints.txt too) installs the same pins as pip would, from its cache: ~15 s for a fresh .venv where pip
# took 40 s on a quiet machine and 170 s on a loaded one.
stamp=$(cat constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.guichet-installed 2>/dev/null)" != "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade -c constraints.txt pip uv >/dev/null
  .venv/bin/uv pip install -q --python .venv/bin/python -c constraints.txt -e '.[test]'
  echo "$stamp" > .venv/.guichet-installed
fi

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
# The formatting is enforced: `.venv/bin/ruff format intake classifiers web worker.py tests bench` applies it.
.venv/bin/ruff format --check intake classifiers web worker.py tests bench
# mypy (~45 s from a cold cache on a busy machine, mostly waiting) runs beside the SQLite pass; its verdict is
# read after it.
mypy_log=$(mktemp)
# The tests' temporary folders (SQLite databases, mailboxes, stores, clones) go on tmpfs when the machine has one:
# a SQLite commit there costs no fsync (the corpus test: 79 s -> 60 s on a loaded machine). Removed at the end.
tests_tmp=""
if [ -d /dev/shm ] && [ -w /dev/shm ]; then tests_tmp=$(mktemp -d /dev/shm/guichet-tests.XXXXXX); fi
pg_log=""
cleanup() { rm -f "$mypy_log" ${pg_log:+"$pg_log"}; [ -z "$tests_tmp" ] || rm -rf "$tests_tmp"; }
trap cleanup EXIT
basetemp() { [ -z "$tests_tmp" ] || echo "--basetemp=$tests_tmp/$1"; }
.venv/bin/mypy >"$mypy_log" 2>&1 &
mypy_pid=$!
# Two pytest-xdist workers (the machine has 2 cores). loadgroup: tests sharing a module, package or costly session
# fixture stay on one worker (tests/browser as a whole: one live server, one Chromium), the others are spread one
# by one, the longest first (tests/support/schedule.py); each worker has its own Redis index and PostgreSQL
# database (tests/conftest.py). The per-test timeout is pyproject.toml's.
# GUICHET_TEST_REDIS_URL, when set, must name one URL per worker, comma-separated.
# GUICHET_TEST_PASSES=together runs the PostgreSQL pass beside the SQLite one (each on its own Redis indexes: 9
# and 11, 12 and 13, or the two halves of GUICHET_TEST_REDIS_URL), its output shown when it ends.
PYTEST=(.venv/bin/pytest -q -n "${GUICHET_TEST_WORKERS:-2}" --dist loadgroup --durations=10)
passes="${GUICHET_TEST_PASSES:-one-after-the-other}"
sqlite_redis="${GUICHET_TEST_REDIS_URL:-}"
pg_redis="${GUICHET_TEST_REDIS_URL:-}"
pg_pid=""
if [ "$passes" = together ]; then
  IFS=, read -r -a urls <<< "${GUICHET_TEST_REDIS_URL:-redis://127.0.0.1:6379/9,redis://127.0.0.1:6379/11,redis://127.0.0.1:6379/12,redis://127.0.0.1:6379/13}"
  half=$(( ${#urls[@]} / 2 ))
  sqlite_redis=$(IFS=,; echo "${urls[*]:0:$half}")
  pg_redis=$(IFS=,; echo "${urls[*]:$half}")
  pg_log=$(mktemp)
  GUICHET_TEST_REDIS_URL="$pg_redis" GUICHET_TEST_DATABASE_URL="$PG_URL" "${PYTEST[@]}" $(basetemp pg) -m db "$@" >"$pg_log" 2>&1 &
  pg_pid=$!
fi
echo "== pytest: SQLite =="
sqlite_status=0
GUICHET_TEST_REDIS_URL="$sqlite_redis" env -u GUICHET_TEST_DATABASE_URL "${PYTEST[@]}" $(basetemp sqlite) "$@" || sqlite_status=$?
echo "== mypy =="
mypy_status=0
wait "$mypy_pid" || mypy_status=$?
cat "$mypy_log"
echo "== pytest: PostgreSQL (database tests) =="
pg_status=0
if [ -n "$pg_pid" ]; then
  wait "$pg_pid" || pg_status=$?
  cat "$pg_log"
elif [ "$sqlite_status" -eq 0 ] && [ "$mypy_status" -eq 0 ]; then
  GUICHET_TEST_REDIS_URL="$pg_redis" GUICHET_TEST_DATABASE_URL="$PG_URL" "${PYTEST[@]}" $(basetemp pg) -m db "$@" || pg_status=$?
else
  echo "(not run: fix the failures above first)"
fi
[ "$sqlite_status" -eq 0 ] && [ "$mypy_status" -eq 0 ] && [ "$pg_status" -eq 0 ]
