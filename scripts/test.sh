#!/usr/bin/env bash
# Everything `make test` runs: lint, migrations check, production deploy check, the pytest suite on
# PostgreSQL and Redis. Assumes `make install` and `make services` ran (the Makefile sees to it).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv

export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ecportal}
export CELERY_BROKER_URL=${TEST_BROKER_URL:-redis://127.0.0.1:6379/15}
export CACHE_URL=${TEST_CACHE_URL:-redis://127.0.0.1:6379/14}
export ECPORTAL_VAR_DIR=${ECPORTAL_VAR_DIR:-$PWD/var/test}
mkdir -p "$ECPORTAL_VAR_DIR"

echo "== ruff"
$VENV/bin/ruff check .
$VENV/bin/ruff format --check .

echo "== import contracts (layers point one way, no cycles)"
$VENV/bin/lint-imports

# The database named by DATABASE_URL (pytest makes its own test_ copy; the checks below connect here).
db_name=${DATABASE_URL##*/}
psql "${DATABASE_URL%/*}/postgres" -tAc "SELECT 1 FROM pg_database WHERE datname='$db_name'" | grep -q 1 \
  || psql "${DATABASE_URL%/*}/postgres" -qc "CREATE DATABASE \"$db_name\""

echo "== makemigrations --check"
$VENV/bin/python manage.py makemigrations --check --dry-run

echo "== check --deploy (production settings)"
DJANGO_SETTINGS_MODULE=ecportal.settings.production \
  SECRET_KEY=$($VENV/bin/python -c 'import secrets; print(secrets.token_urlsafe(60))') \
  ALLOWED_HOSTS=ecportal.example.com \
  EVIDENCE_KEY=$($VENV/bin/python -c 'import secrets; print(secrets.token_urlsafe(48))') \
  METRICS_TOKEN=$($VENV/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))') \
  $VENV/bin/python manage.py check --deploy --fail-level WARNING

echo "== browser (Debian chromium, axe-core)"
bash scripts/ensure-browser.sh

echo "== pytest"
# Every test process and worker records metrics under the var directory: start the run with none.
rm -rf "$ECPORTAL_VAR_DIR/metrics"
$VENV/bin/pytest "$@"
