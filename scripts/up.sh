#!/usr/bin/env bash
# Set up Guichet on a new Debian machine and run it with the embedded defaults:
# SQLite, the shipped demo commune (config.yaml), a private Redis, a demo mailbox and mail catcher.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# A running instance of this folder holds var/guichet-up.lock: say so before reinstalling anything under its feet.
lock="$(dirname "${GUICHET_CONFIG:-config.yaml}")/var/guichet-up.lock"
if [ -f "$lock" ] && command -v flock >/dev/null && ! flock -n "$lock" true; then
  echo "scripts/up.sh : Guichet tourne déjà avec ce dossier ($(cat "$lock")) : rien n'a été lancé ni modifié." >&2
  echo "Arrêtez-le d'abord (Ctrl-C dans son terminal, ou kill du pid)." >&2
  exit 1
fi
need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
python3 -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
# Pango for WeasyPrint (the work orders' PDF)
ldconfig -p | grep -q 'libpangoft2-1.0.so.0' || need_apt+=(libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"; fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  # GUICHET_BASE_VENV=/path/to/.venv (optional): the new .venv also sees the packages of that existing virtualenv of
  # Guichet (a .pth file), so that pip below finds them installed at the pinned versions and installs only Guichet
  # itself, here. The test of a fresh clone (tests/test_readme_newcomer.py) uses it to run this very script in
  # seconds instead of minutes of installing; nobody else needs it.
  if [ -n "${GUICHET_BASE_VENV:-}" ]; then
    base_site=$("$GUICHET_BASE_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    own_site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    if [ "$(basename "$(dirname "$base_site")")" != "$(basename "$(dirname "$own_site")")" ]; then
      echo "scripts/up.sh : GUICHET_BASE_VENV ($base_site) n'est pas de la même version de Python que .venv." >&2
      exit 1
    fi
    echo "$base_site" > "$own_site/guichet-base-venv.pth"
  fi
fi
.venv/bin/python -m pip install -q --upgrade -c constraints.txt pip >/dev/null
.venv/bin/python -m pip install -q -c constraints.txt -e .  # the versions the tests passed with (scripts/lock.sh)
exec .venv/bin/guichet up --demo-mail "$@"
