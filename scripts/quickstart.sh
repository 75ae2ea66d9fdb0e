#!/usr/bin/env bash
# The newcomer's one command: set everything up, then run the main job on the built-in default testbed
# (hosts.yml in this repository): build it as a local lab on this machine, check and provision every host,
# deploy mu1's service on edge1, offload tasks to it through the user's access point, live-migrate it to
# edge2 (delta checkpoint) and offload again: the counter goes on where it was.
#
# Re-runnable: lab up and provision leave what is already right alone, and mu1's service is undeployed
# first (wherever an earlier or failed run left it; nothing happens when it is not deployed), so the main
# job always starts from mu1 on edge1 with a fresh counter.
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
edgectl undeploy --user mu1
edgectl deploy --user mu1 --host edge1
edgectl offload --user mu1 --count 5
edgectl migrate --user mu1 --to edge2
edgectl offload --user mu1 --count 5
cat <<'DONE'

[quickstart] done: mu1's compute service runs on edge2 of the local lab.
To look at the result:
  ./bin/run.js lab status                            the lab's hosts, their namespaces and addresses
  ./bin/run.js offload --user mu1 --count 3 --json   more tasks (the counter goes on); every command takes --json
  ./bin/run.js migrate --user mu1 --to edge1 --json  move it back: phases, downtime, bytes
  .edgectl/state.db                                  the state database (SQLite): placements, tasks, migrations
To clean up:
  ./bin/run.js undeploy --user mu1                   remove mu1's container and its placement
  ./bin/run.js lab down                              remove the lab (add --purge to drop its loaded images too)
DONE
