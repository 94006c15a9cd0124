#!/usr/bin/env bash
# Development helper: regenerate the initial migration from the models (only while nothing is released).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f /tmp/guichet-gen.db intake/migrations/versions/0001_initial_schema.py
.venv/bin/python -c "
from alembic import command
from intake.runtime.db import alembic_config
command.revision(alembic_config('sqlite:////tmp/guichet-gen.db'), message='initial schema', autogenerate=True, rev_id='0001')
"
