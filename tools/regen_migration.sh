#!/usr/bin/env bash
# Regenerate the single initial migration from app/models.py (allowed until the first release ships).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
export FLASK_APP=app ATTUNE_INSTANCE="$tmp" DATABASE_URL="sqlite:///$tmp/regen.db"
rm -f migrations/versions/*.py
.venv/bin/flask db revision --autogenerate --rev-id 0001 -m "initial schema" >/dev/null 2>&1
.venv/bin/ruff format -q migrations/versions/ || true
.venv/bin/flask db upgrade >/dev/null 2>&1
.venv/bin/flask db check 2>&1 | tail -1
rm -rf "$tmp"
