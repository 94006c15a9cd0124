#!/usr/bin/env bash
# Make sure the Dovecot IMAP server used by the tests (tests/support/dovecot.py) is installed.
# Idempotent and quiet: does nothing when /usr/sbin/dovecot exists. Needs root (or sudo) on Debian.
# The tests start private instances with their own config; the system service is neither
# configured nor started here.
set -euo pipefail

DOVECOT_BIN="${DOVECOT_BIN:-/usr/sbin/dovecot}"
if [ -x "$DOVECOT_BIN" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
# dovecot-imapd pulls dovecot-core; openssl (only if absent: no upgrade as a side effect) lets the
# tests make a self-signed certificate for TLS.
packages="dovecot-imapd"
command -v openssl >/dev/null 2>&1 || packages="$packages openssl"
# Quiet on success, the whole apt output on failure.
if ! log=$($SUDO apt-get update -qq 2>&1 && $SUDO apt-get install -y -qq --no-install-recommends $packages 2>&1); then
    echo "$log" >&2
    echo "ensure-dovecot: apt-get could not install $packages" >&2
    exit 1
fi

# The packaged service may start on install; the tests ignore it (their instances pick free ports).
if ! /usr/sbin/dovecot --version >/dev/null; then
    echo "ensure-dovecot: /usr/sbin/dovecot still missing after apt-get install" >&2
    exit 1
fi
