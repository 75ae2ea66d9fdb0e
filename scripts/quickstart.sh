#!/usr/bin/env bash
# The newcomer's one command: set everything up, then run the main job on the built-in default testbed
# (hosts.yml in this repository): build it as a local lab on this machine, check and provision every host,
# deploy mu1's service on edge1, offload tasks to it through the user's access point, live-migrate it to
# edge2 (delta checkpoint) and offload again: the counter goes on where it was.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
edgectl() {
  echo "[quickstart] edgectl $*" >&2
  ./bin/run.js "$@" -f hosts.yml
}
edgectl lab up
edgectl hosts check
edgectl provision
edgectl deploy --user mu1 --host edge1
edgectl offload --user mu1 --count 5
edgectl migrate --user mu1 --to edge2
edgectl offload --user mu1 --count 5
