#!/usr/bin/env bash
# Make sure the private addok used by the tests (tests/support/addok.py) is installed: in the machine's cache
# (~/.cache/guichet/addok-venv-<pins>), shared by every checkout, so a fresh clone does not build it again (~35 s
# with a compile of python-geohash); the folder's name changes with the pins. ADDOK_VENV names another folder.
# Idempotent and quiet: does nothing when the venv is complete (its stamp names the same pins), prints the
# install log only on failure. Needs root (or sudo) only when g++ or python3-venv are missing.
# addok 1.3.2 pins redis==6.4.0, hence its own venv apart from the project's; python-geohash needs g++.
set -euo pipefail

# addok-france and addok-fr are the plugins of the national address API (ban.data.gouv.fr's addok.conf).
# tests/support/addok.py names the same pins and folder.
PINS="addok==1.3.2 redis==6.4.0 addok-france==1.2.0 addok-fr==1.1.0"
PINS_KEY=$(printf '%s' "$PINS" | sha256sum | cut -c1-12)
VENV="${ADDOK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/guichet/addok-venv-$PINS_KEY}"
STAMP="$VENV/.guichet-pins"

# Complete: the stamp (written last) names these pins and the venv's interpreter still runs.
ready() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PINS" ] && [ -x "$VENV/bin/addok" ] \
        && "$VENV/bin/python" -c "" 2>/dev/null
}

# --path: print the venv's folder on stdout once it is ready (tests/support/addok.py reads it).
done_ok() {
    if [ "${1:-}" = "--path" ]; then echo "$VENV"; fi
    exit 0
}

if ready; then
    done_ok "$@"
fi

mkdir -p "$(dirname "$VENV")"
# Two test runs may start at once: one builds, the other waits and then finds the stamp.
exec 9>"$VENV.lock"
flock 9
if ready; then
    done_ok "$@"
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
apt_missing=""
command -v g++ >/dev/null 2>&1 || apt_missing="$apt_missing g++"
python3 -c "import venv, ensurepip" 2>/dev/null || apt_missing="$apt_missing python3-venv"
if [ -n "$apt_missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    if ! log=$($SUDO apt-get update -qq 2>&1 && $SUDO apt-get install -y -qq --no-install-recommends $apt_missing 2>&1); then
        echo "$log" >&2
        echo "ensure-addok: apt-get could not install$apt_missing" >&2
        exit 1
    fi
fi

# A venv left half-built by an interrupted run has no stamp: start it again from scratch.
rm -rf "$VENV"
if ! log=$(python3 -m venv "$VENV" 2>&1 && "$VENV/bin/python" -m pip install -q --no-input $PINS 2>&1); then
    echo "$log" >&2
    echo "ensure-addok: could not build $VENV with $PINS" >&2
    rm -rf "$VENV"
    exit 1
fi
if ! "$VENV/bin/python" -c "import addok, addok_france, addok_fr, geohash" 2>/dev/null; then
    echo "ensure-addok: $VENV was built but addok or its plugins do not import" >&2
    exit 1
fi
echo "$PINS" >"$STAMP"
done_ok "$@"
