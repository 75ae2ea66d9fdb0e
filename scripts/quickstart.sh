#!/usr/bin/env bash
# The newcomer's one command: set everything up, then run the main job on the built-in default testbed
# (hosts.yml in this repository).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[quickstart] edgectl hosts check" >&2
exec ./bin/run.js hosts check -f hosts.yml
