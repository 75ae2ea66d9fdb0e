import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { baselinePlacement } from '../../src/lib/experiment/controllers/reactive.js';
import { loadInventory } from '../../src/lib/inventory/index.js';
import {
  BASELINES,
  type BaselineTopology,
  baselineServer,
  baselineTopology,
} from '../../src/lib/planner/baselines.js';
import type { PlanInput, PlanUser } from '../../src/lib/planner/input.js';
import { plan } from '../../src/lib/planner/plan.js';
import { seededRandom } from '../../src/lib/util/random.js';

/**
 * The paper's street: ap1-ap3 each beside edge1-edge3, and a cloud. Round trips from each AP: 2 ms to its
 * own edge, 102 ms to the next one, 202 to the one after, 302 to the cloud. edge2 has room for one
 * 1-CPU service only.
 */
function input(users: PlanUser[]): PlanInput {
  const aps = ['ap1', 'ap2', 'ap3'];
  const edges = ['edge1', 'edge2', 'edge3'];
  const links: PlanInput['links'] = [];
  aps.forEach((ap, i) => {
    edges.forEach((e, j) => {
      links.push({
        a: ap,
        b: e,
        rttMs: 2 + 100 * Math.abs(i - j),
        bandwidthBps: 100e6,
        rttSource: 'hosts.yml',
      });
    });
    links.push({ a: ap, b: 'cloud', rttMs: 302, bandwidthBps: 75e6, rttSource: 'hosts.yml' });
  });
  const servers = ['cloud', ...edges];
  for (const a of servers)
    for (const b of servers)
      if (a < b) links.push({ a, b, rttMs: 100, bandwidthBps: 100e6, rttSource: 'hosts.yml' });
  return {
    v: 1,
    atMs: 1_000_000,
    testbed: 't',
    handoverMs: 500,
    handoverSource: 'prior',
    migrationSetupMs: 0,
    migrationSetupSource: 'prior',
    transferRtts: 0,
    windowS: 30,
    measuredMigrations: [],
    basestations: aps.map((name, i) => ({
      name,
      host: name,
      server: edges[i] ?? null,
      position: [60 * i, 5] as [number, number],
      maxUsers: 10,
      pathLoss: { exponent: 3, referenceLossDb: 30, minRssiDbm: -82 },
    })),
    servers: servers.map((name) => ({
      name,
      role: name === 'cloud' ? 'cloud' : 'edge',
      cpuScore: null,
      capacity: name === 'edge2' ? { cpus: 1, memMB: 1024 } : { cpus: 4, memMB: 16384 },
      psi: 0.01,
      rho: 0.01,
      fit: 'prior',
    })),
    links,
    users,
  };
}

/** A user on `bs` (its strongest, by 10 dB), its service on `server`, taking one CPU. */
function user(name: string, bs: string, server: string): PlanUser {
  const rssi = Object.fromEntries(['ap1', 'ap2', 'ap3'].map((b) => [b, b === bs ? -60 : -70]));
  return {
    name,
    service: 'compute',
    bs,
    server,
    rssi,
    position: null,
    trajectory: null,
    walkS: null,
    taskBytes: 20_000,
    tasks: 10,
    procMs: 5,
    demand: { cpus: 1, memMB: 512 },
    migration: { imageBytes: 10e6, preBytes: 10e6, deltaBytes: 1e5, source: 'prior' },
  };
}

const none = new Map<string, { cpus: number; memMB: number }>();
const pick = (topo: BaselineTopology, planner: (typeof BASELINES)[number], bs: string, used = none) =>
  baselineServer(topo, { planner, bs, demand: { cpus: 1, memMB: 512 }, used, random: seededRandom(1) });

describe("the baselines' rule", () => {
  it('cloud: the cloud server, with room or not', () => {
    const topo = input([]);
    expect(pick(topo, 'cloud', 'ap2')).toEqual({ server: 'cloud', full: false });
    expect(pick(topo, 'cloud', 'ap2', new Map([['cloud', { cpus: 4, memMB: 0 }]]))).toEqual({
      server: 'cloud',
      full: true,
    });
    expect(
      pick({ ...topo, servers: topo.servers.filter((s) => s.role !== 'cloud') }, 'cloud', 'ap1'),
    ).toBeNull();
  });

  it('nearest: the co-located server; full, the nearest with room; none with room, the co-located one anyway', () => {
    const topo = input([]);
    expect(pick(topo, 'nearest', 'ap2')).toEqual({ server: 'edge2', full: false });
    const edge2Taken = new Map([['edge2', { cpus: 1, memMB: 512 }]]);
    // edge1 and edge3 are both 102 ms from ap2: the first in file order.
    expect(pick(topo, 'nearest', 'ap2', edge2Taken)).toEqual({ server: 'edge1', full: false });
    const allTaken = new Map(['cloud', 'edge1', 'edge2', 'edge3'].map((s) => [s, { cpus: 4, memMB: 0 }]));
    expect(pick(topo, 'nearest', 'ap3', allTaken)).toEqual({ server: 'edge3', full: true });
    // A base station without a server of its own: the nearest by round trip.
    const bare = { ...topo, basestations: topo.basestations.map((b) => ({ ...b, server: null })) };
    expect(pick(bare, 'nearest', 'ap3')).toEqual({ server: 'edge3', full: false });
    expect(pick(topo, 'nearest', 'ap9')).toBeNull();
  });

  it('random: one draw among the reachable servers with room, among all of them when none has room', () => {
    const topo = input([]);
    const seen = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const c = baselineServer(topo, {
        planner: 'random',
        bs: 'ap1',
        demand: { cpus: 1, memMB: 512 },
        used: new Map([['edge2', { cpus: 1, memMB: 0 }]]),
        random: seededRandom(seed),
      });
      seen.add(c?.server ?? '-');
    }
    expect([...seen].sort()).toEqual(['cloud', 'edge1', 'edge3']);
    // The draw: 0.5 of 4 servers in order (cloud, edge1, edge2, edge3) is edge2.
    expect(
      baselineServer(topo, {
        planner: 'random',
        bs: 'ap1',
        demand: { cpus: 0, memMB: 0 },
        used: none,
        random: () => 0.5,
      })?.server,
    ).toBe('edge2');
    // No room anywhere: among all, and said so.
    const allTaken = new Map(['cloud', 'edge1', 'edge2', 'edge3'].map((s) => [s, { cpus: 4, memMB: 0 }]));
    expect(
      baselineServer(topo, {
        planner: 'random',
        bs: 'ap1',
        demand: { cpus: 1, memMB: 0 },
        used: allTaken,
        random: () => 0.99,
      }),
    ).toEqual({ server: 'edge3', full: true });
    // A server no route joins to the base station is never drawn.
    const cut = { ...topo, links: topo.links.filter((l) => !(l.a === 'ap1' && l.b === 'edge3')) };
    for (const r of [0, 0.3, 0.6, 0.99])
      expect(
        baselineServer(cut, {
          planner: 'random',
          bs: 'ap1',
          demand: { cpus: 0, memMB: 0 },
          used: none,
          random: () => r,
        })?.server,
      ).not.toBe('edge3');
  });

  it('random draws exactly once per call, the others never (the run’s sequence of draws is theirs alone)', () => {
    const topo = input([]);
    for (const planner of BASELINES) {
      let draws = 0;
      const random = () => {
        draws++;
        return 0.1;
      };
      baselineServer(topo, { planner, bs: 'ap1', demand: { cpus: 0, memMB: 0 }, used: none, random });
      baselineServer(topo, { planner, bs: 'nowhere', demand: { cpus: 0, memMB: 0 }, used: none, random });
      expect(draws).toBe(planner === 'random' ? 2 : 0);
    }
  });

  it('`plan` and `experiment run` give the same server for the same input (each baseline, base stations, seeds)', async () => {
    const cases: [string, string][] = [
      ['ap1', 'ap1'],
      ['ap2', 'ap2'],
      ['ap3', 'ap2'],
      ['ap3', 'ap3'],
      ['ap2', 'ap3'],
      ['ap3', 'ap1'],
    ];
    let compared = 0;
    for (const planner of BASELINES)
      for (const [bs1, bs2] of cases)
        for (const seed of [1, 2, 3, 7, 11]) {
          // Two users, so that the second counts what the first takes (edge2 has room for one).
          const pi = input([user('mu1', bs1, 'edge1'), user('mu2', bs2, 'edge3')]);
          const r = await plan(pi, { planner, seed });
          // The experiment's side: the same rule through its controller's placement, the users in turn.
          const random = seededRandom(seed);
          const runs = [
            { name: 'mu1', host: '', demand: { cpus: 1, memMB: 512 } },
            { name: 'mu2', host: '', demand: { cpus: 1, memMB: 512 } },
          ];
          const got: string[] = [];
          for (const [i, bs] of [bs1, bs2].entries()) {
            const u = runs[i] as (typeof runs)[number];
            const c = baselinePlacement(pi, planner, random, runs, u, bs);
            u.host = c?.server ?? '';
            got.push(u.host);
          }
          expect(r.decisions.map((d) => d.bs)).toEqual([bs1, bs2]);
          expect(r.decisions.map((d) => d.host)).toEqual(got);
          compared++;
        }
    expect(compared).toBe(3 * 6 * 5);
    // And the capacity counted: two users on ap2 under nearest, the second goes to the nearest with room.
    const both = await plan(input([user('mu1', 'ap2', 'edge1'), user('mu2', 'ap2', 'edge3')]), {
      planner: 'nearest',
    });
    expect(both.decisions.map((d) => d.host)).toEqual(['edge2', 'edge1']);
  });

  it("reads hosts.yml's topology: co-located servers, capacities, configured round trips", async () => {
    const inv = await loadInventory(path.join(fileURLToPath(new URL('../..', import.meta.url)), 'hosts.yml'));
    const topo = baselineTopology(inv);
    expect(topo.basestations.find((b) => b.name === 'ap2')).toEqual({
      name: 'ap2',
      host: 'ap2',
      server: 'edge2',
    });
    expect(topo.servers.find((s) => s.name === 'edge1')?.capacity).toEqual({ cpus: 4, memMB: 16384 });
    // ap1 -> edge1 -> edge2: 1 + 50 ms each way.
    expect(topo.links.find((l) => l.a === 'ap1' && l.b === 'edge2')?.rttMs).toBe(102);
    expect(pick(topo, 'nearest', 'ap3')?.server).toBe('edge3');
    expect(pick(topo, 'cloud', 'ap3')?.server).toBe('cloud');
  });
});
