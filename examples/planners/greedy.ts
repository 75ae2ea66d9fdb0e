#!/usr/bin/env -S npx tsx
/**
 * The greedy placement policy of greedy.py, in TypeScript, typed by edgectl's own PlannerRequest and
 * PlannerAnswer (`npm run typecheck` checks it). Node 20 does not run TypeScript by itself: tsx does (a
 * dev dependency of this repository, `npx tsx` elsewhere).
 *
 *   edgectl plan --planner greedy-ts=exec:"npx tsx examples/planners/greedy.ts"
 *
 * The request ({ v: 1, nowMs, input }) comes on standard input, the answer ({ decisions: [...] }) goes to
 * standard output. The same function serves a library user as a planner function:
 *
 *   import { plan } from 'edgectl';
 *   import { greedy } from './greedy.js';
 *   await plan(input, { planner: { name: 'greedy-ts', fn: greedy } });
 *
 * The rule: each user in turn on the base station it hears best now (of those it can decode and that have
 * a place left), its service on the least-loaded server that station's host reaches with room for it (load:
 * the share of its CPUs the users placed before it take), the shortest round trip breaking ties. No trigger
 * times: edgectl schedules the moves as for orchestrated.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
// In a project of your own: from 'edgectl'. Types only: nothing of edgectl is loaded at run time.
import type { PlannerAnswer, PlannerRequest } from '../../src/index.js';

type PlanInput = PlannerRequest['input'];
type Decision = PlannerAnswer['decisions'][number];

function link(links: PlanInput['links'], a: string, b: string): { rttMs: number } | undefined {
  if (a === b) return { rttMs: 0 };
  return links.find((l) => (l.a === a && l.b === b) || (l.a === b && l.b === a));
}

/** Least loaded first, then the shortest round trip, then the name (a stable order). */
function better(a: [number, number, string], b: [number, number, string]): boolean {
  if (a[0] !== b[0]) return a[0] < b[0];
  if (a[1] !== b[1]) return a[1] < b[1];
  return a[2] < b[2];
}

export function greedy(request: PlannerRequest): PlannerAnswer {
  if (request.v !== 1) throw new Error(`request version ${request.v} is not 1`);
  const input = request.input;
  const used = new Map(input.servers.map((s) => [s.name, { cpus: 0, memMB: 0 }]));
  const onBs = new Map(input.basestations.map((b) => [b.name, 0]));
  const decisions: Decision[] = [];
  for (const u of input.users) {
    let bs: PlanInput['basestations'][number] | undefined;
    for (const b of input.basestations) {
      const rssi = u.rssi[b.name];
      if (rssi === undefined || rssi < b.pathLoss.minRssiDbm || (onBs.get(b.name) ?? 0) >= b.maxUsers)
        continue;
      if (!bs || rssi > (u.rssi[bs.name] ?? Number.NEGATIVE_INFINITY)) bs = b;
    }
    if (!bs) continue; // left out: it stays where it is
    let best: { key: [number, number, string]; name: string } | undefined;
    for (const s of input.servers) {
      const l = link(input.links, bs.host, s.name);
      if (!l) continue;
      if (u.server !== null && !link(input.links, u.server, s.name)) continue; // no route to migrate over
      const load = used.get(s.name) ?? { cpus: 0, memMB: 0 };
      if (load.cpus + u.demand.cpus > s.capacity.cpus || load.memMB + u.demand.memMB > s.capacity.memMB)
        continue;
      // Least loaded by what the users placed before it take (a share of its CPUs), then nearest.
      const key: [number, number, string] = [load.cpus / (s.capacity.cpus || 1), l.rttMs, s.name];
      if (!best || better(key, best.key)) best = { key, name: s.name };
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
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const request = JSON.parse(Buffer.concat(chunks).toString('utf8')) as PlannerRequest;
  process.stdout.write(`${JSON.stringify(greedy(request))}\n`);
}
