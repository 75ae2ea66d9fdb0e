#!/usr/bin/env bash
# Sets this machine up for edgectl: the host prerequisites (as root), the npm dependencies, the build.
# Idempotent; CI runs it before the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-host-deps.sh --role all
echo "[setup] npm ci" >&2
npm ci --no-audit --no-fund
echo "[setup] build" >&2
npm run build
