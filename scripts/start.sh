#!/usr/bin/env sh
# How the production image starts the service (and how tests start it the same way):
# migrate (safe when several replicas start at once), then serve with WORKERS processes.
set -eu
cd "$(dirname "$0")/.."
.venv/bin/letter-campaign migrate
exec .venv/bin/letter-campaign serve --host "${HOST:-0.0.0.0}" --port "${PORT:-8000}"
