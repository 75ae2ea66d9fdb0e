#!/usr/bin/env node
// @ts-check
/**
 * The greedy placement policy of greedy.py, in JavaScript with TypeScript's types (JSDoc, checked by
 * `// @ts-check` in an editor or `tsc --checkJs`): it runs on plain Node 20, nothing to install or build.
 *
 *   edgectl plan --planner greedy-js=exec:"node examples/planners/greedy.mjs"
 *
 * The request ({ v: 1, nowMs, input }) comes on standard input, the answer ({ decisions: [...] }) goes to
 * standard output. The same function serves a library user as a planner function:
 *
 *   import { plan } from 'edgectl';
 *   import { greedy } from './greedy.mjs';
 *   await plan(input, { planner: { name: 'greedy-js', fn: greedy } });
 *
 * The rule: each user in turn on the base station it hears best now (of those it can decode and that have
 * a place left), its service on the least-loaded server that station's host reaches with room for it (load:
 * the share of its CPUs the users placed before it take), the shortest round trip breaking ties. No trigger
 * times: edgectl schedules the moves as for orchestrated.
 */

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** @typedef {import('edgectl').PlannerRequest} PlannerRequest */
/** @typedef {import('edgectl').PlannerAnswer} PlannerAnswer */
/** @typedef {PlannerRequest['input']} PlanInput */

/**
 * @param {PlanInput['links']} links
 * @param {string} a
 * @param {string} b
 * @returns {{ rttMs: number } | undefined}
 */
function link(links, a, b) {
  if (a === b) return { rttMs: 0 };
  return links.find((l) => (l.a === a && l.b === b) || (l.a === b && l.b === a));
}

/**
 * @param {PlannerRequest} request
 * @returns {PlannerAnswer}
 */
export function greedy(request) {
  if (request.v !== 1) throw new Error(`request version ${request.v} is not 1`);
  const input = request.input;
  /** @type {Map<string, { cpus: number; memMB: number }>} */
  const used = new Map(input.servers.map((s) => [s.name, { cpus: 0, memMB: 0 }]));
  /** @type {Map<string, number>} */
  const onBs = new Map(input.basestations.map((b) => [b.name, 0]));
  /** @type {PlannerAnswer['decisions']} */
  const decisions = [];
  for (const u of input.users) {
    let bs;
    for (const b of input.basestations) {
      const rssi = u.rssi[b.name];
      if (rssi === undefined || rssi < b.pathLoss.minRssiDbm || (onBs.get(b.name) ?? 0) >= b.maxUsers)
        continue;
      if (!bs || rssi > (u.rssi[bs.name] ?? -Infinity)) bs = b;
    }
    if (!bs) continue; // left out: it stays where it is
    /** @type {{ key: [number, number, string]; name: string } | undefined} */
    let best;
    for (const s of input.servers) {
      const l = link(input.links, bs.host, s.name);
      if (!l) continue;
      if (u.server !== null && !link(input.links, u.server, s.name)) continue; // no route to migrate over
      const load = used.get(s.name) ?? { cpus: 0, memMB: 0 };
      if (load.cpus + u.demand.cpus > s.capacity.cpus || load.memMB + u.demand.memMB > s.capacity.memMB)
        continue;
      /** @type {[number, number, string]} */
      // Least loaded by what the users placed before it take (a share of its CPUs), then nearest.
      const key = [load.cpus / (s.capacity.cpus || 1), l.rttMs, s.name];
      if (
        !best ||
        key[0] < best.key[0] ||
        (key[0] === best.key[0] && (key[1] < best.key[1] || (key[1] === best.key[1] && key[2] < best.key[2])))
      )
        best = { key, name: s.name };
    }
    if (!best) continue;
    const load = used.get(best.name);
    if (load) {
      load.cpus += u.demand.cpus;
      load.memMB += u.demand.memMB;
    }
    onBs.set(bs.name, (onBs.get(bs.name) ?? 0) + 1);
    decisions.push({ user: u.name, bs: bs.name, server: best.name });
  }
  return { decisions };
}

// Run as a program (not imported): the request on stdin, the answer on stdout.
if (process.argv[1] && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  process.stdout.write(`${JSON.stringify(greedy(JSON.parse(Buffer.concat(chunks).toString('utf8'))))}\n`);
}
