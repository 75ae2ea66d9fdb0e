#!/usr/bin/env python3
"""A greedy placement policy for edgectl, as an outside planner (python3, standard library only).

edgectl runs it as `--planner greedy=exec:"python3 examples/planners/greedy.py"`: the request (a JSON
document: {"v": 1, "nowMs": ..., "input": <the plan input>}) comes on standard input, the answer
({"decisions": [{"user", "bs", "server"}]}) goes to standard output. See docs/guide/planners.md.

The rule: each user in turn goes to the base station it hears best now (of those it can decode), and its
service to the least-loaded server that base station's host reaches and that still has room for it (load:
the share of its CPUs the users placed before it take), the shortest round trip breaking ties: one user
follows its base station's edge server; several spread over the servers near them. No trigger
times are given: edgectl schedules the moves itself, as it does for orchestrated.
"""
import json
import sys


def link(links, a, b):
    """The link between two hosts, either way round (None: no route); a host reaches itself."""
    if a == b:
        return {"rttMs": 0}
    for l in links:
        if (l["a"], l["b"]) in ((a, b), (b, a)):
            return l
    return None


def plan(request):
    if request.get("v") != 1:
        raise SystemExit(f"greedy: request version {request.get('v')} is not 1")
    inp = request["input"]
    servers = {s["name"]: s for s in inp["servers"]}
    used = {name: {"cpus": 0.0, "memMB": 0.0} for name in servers}
    on_bs = {b["name"]: 0 for b in inp["basestations"]}
    decisions = []
    for u in inp["users"]:
        heard = [
            (u["rssi"][b["name"]], b)
            for b in inp["basestations"]
            if b["name"] in u["rssi"]
            and u["rssi"][b["name"]] >= b["pathLoss"]["minRssiDbm"]
            and on_bs[b["name"]] < b["maxUsers"]
        ]
        if not heard:
            continue  # left out: it stays where it is
        _, bs = max(heard, key=lambda x: x[0])
        best = None
        for name, s in servers.items():
            l = link(inp["links"], bs["host"], name)
            if l is None:
                continue
            if u["server"] is not None and link(inp["links"], u["server"], name) is None:
                continue  # no route to migrate over
            room = all(used[name][r] + u["demand"][r] <= s["capacity"][r] for r in ("cpus", "memMB"))
            if not room:
                continue
            # Least loaded by what the users placed before it take (a share of its CPUs), then nearest.
            cap = s["capacity"]["cpus"] or 1
            key = (used[name]["cpus"] / cap, l["rttMs"], name)
            if best is None or key < best[0]:
                best = (key, name)
        if best is None:
            continue
        server = best[1]
        for r in ("cpus", "memMB"):
            used[server][r] += u["demand"][r]
        on_bs[bs["name"]] += 1
        decisions.append({"user": u["name"], "bs": bs["name"], "server": server})
    return {"decisions": decisions}


if __name__ == "__main__":
    json.dump(plan(json.load(sys.stdin)), sys.stdout)
    sys.stdout.write("\n")
