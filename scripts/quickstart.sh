#!/usr/bin/env bash
# The newcomer's one command: set everything up, then run the main job on the built-in default testbed
# (hosts.yml in this repository): build it as a local lab on this machine, check every host of it, and
# provision it (link shaping, NAT on the APs, the users' paths, host-to-host trust).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "[quickstart] edgectl lab up" >&2
./bin/run.js lab up -f hosts.yml
echo "[quickstart] edgectl hosts check" >&2
./bin/run.js hosts check -f hosts.yml
echo "[quickstart] edgectl provision" >&2
exec ./bin/run.js provision -f hosts.yml
