import { describe, expect, it } from 'vitest';
import {
  type CapacityMigration,
  capacityPeaks,
  capacityTimeline,
} from '../../src/lib/experiment/capacity.js';
import { baselinePlacement } from '../../src/lib/experiment/controllers/reactive.js';
import type { BaselineTopology } from '../../src/lib/planner/baselines.js';

/** Two edges of 4 cpus beside their access points, a cloud of 8 further away; ap1 is nearer edge2 than the cloud. */
const topo: BaselineTopology = {
  basestations: [
    { name: 'ap1', host: 'edge1', server: 'edge1' },
    { name: 'ap2', host: 'edge2', server: 'edge2' },
  ],
  servers: [
    { name: 'cloud', role: 'cloud', capacity: { cpus: 8, memMB: 8192 } },
    { name: 'edge1', role: 'edge', capacity: { cpus: 4, memMB: 4096 } },
    { name: 'edge2', role: 'edge', capacity: { cpus: 4, memMB: 4096 } },
  ],
  links: [
    { a: 'edge1', b: 'edge2', rttMs: 10 },
    { a: 'edge1', b: 'cloud', rttMs: 60 },
    { a: 'edge2', b: 'cloud', rttMs: 60 },
  ],
};

const demand = { cpus: 1.5, memMB: 512 };

/** Places users one after the other as an experiment's initial placement does (run.ts placeBy). */
function placeAll(planner: 'nearest' | 'random' | 'cloud', bss: string[], seed = 7) {
  let s = seed;
  const random = () => {
    s = (s * 16807) % 2147483647;
    return s / 2147483647;
  };
  const users = bss.map((bs, i) => ({ name: `mu${i + 1}`, bs, host: '', demand }));
  const full: string[] = [];
  for (const u of users) {
    const c = baselinePlacement(topo, planner, random, users, u, u.bs);
    if (!c) throw new Error(`no server for ${u.name}`);
    if (c.full) full.push(u.name);
    u.host = c.server;
  }
  return { users, full };
}

function load(users: { host: string }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const u of users) out[u.host] = (out[u.host] ?? 0) + demand.cpus;
  return out;
}

describe('capacity binds for every baseline (six users of 1.5 cpus, edges of 4)', () => {
  it('nearest: two on the co-located edge, then the nearest edge with room, then the cloud', () => {
    const { users, full } = placeAll('nearest', ['ap1', 'ap1', 'ap1', 'ap1', 'ap1', 'ap1']);
    expect(users.map((u) => u.host)).toEqual(['edge1', 'edge1', 'edge2', 'edge2', 'cloud', 'cloud']);
    expect(full).toEqual([]);
    for (const [host, cpus] of Object.entries(load(users)))
      expect(cpus).toBeLessThanOrEqual(topo.servers.find((s) => s.name === host)?.capacity.cpus ?? 0);
  });

  it('random: only servers with room, whatever the seed', () => {
    for (const seed of [1, 2, 3, 42, 99]) {
      const { users, full } = placeAll('random', ['ap1', 'ap2', 'ap1', 'ap2', 'ap1', 'ap2'], seed);
      expect(full).toEqual([]);
      for (const [host, cpus] of Object.entries(load(users)))
        expect(cpus).toBeLessThanOrEqual(topo.servers.find((s) => s.name === host)?.capacity.cpus ?? 0);
    }
  });

  it('a move under way holds room on its destination: two reactions at once do not both take the last room', () => {
    const users = [
      { name: 'mu1', host: 'edge2', demand },
      { name: 'mu2', host: 'edge1', demand, movingTo: 'edge2' },
      { name: 'mu3', host: 'edge1', demand },
    ];
    // edge2 holds mu1 (1.5) and mu2 is on its way there (1.5): no room for mu3's 1.5 in 4.
    const c = baselinePlacement(topo, 'nearest', () => 0, users, users[2] as (typeof users)[number], 'ap2');
    expect(c).toEqual({ server: 'edge1', full: false });
    // Without the move under way, edge2 had room.
    const idle = users.map((u) => ({ ...u, movingTo: undefined }));
    expect(
      baselinePlacement(topo, 'nearest', () => 0, idle, idle[2] as (typeof idle)[number], 'ap2'),
    ).toEqual({
      server: 'edge2',
      full: false,
    });
  });

  it('none with room: the least-bad choice, flagged full for the warning', () => {
    const { users, full } = placeAll('cloud', ['ap1', 'ap1', 'ap1', 'ap1', 'ap1', 'ap1']);
    // The cloud holds five of 1.5 cpus in 8; the sixth goes there anyway, over its capacity.
    expect(users.every((u) => u.host === 'cloud')).toBe(true);
    expect(full).toEqual(['mu6']);
  });
});

const servers = [
  { host: 'edge1', cpus: 4, memMB: 4096 },
  { host: 'edge2', cpus: 4, memMB: 4096 },
];
const users = [
  { user: 'mu1', service: 'simple', host: 'edge1', bs: 'ap1', cpus: 1.5, memMB: 512 },
  { user: 'mu2', service: 'simple', host: 'edge1', bs: 'ap1', cpus: 1.5, memMB: 512 },
  { user: 'mu3', service: 'compute', host: 'edge2', bs: 'ap2', cpus: 2, memMB: 1024 },
];
const t0 = 1_000_000;
const migration = (m: Partial<CapacityMigration>): CapacityMigration => ({
  user: 'mu1',
  from: 'edge1',
  to: 'edge2',
  startedMs: t0 + 10_000,
  ok: true,
  rolledBack: false,
  totalMs: 3000,
  phases: [
    { name: 'pre-checkpoint', startMs: 0, durationMs: 800 },
    { name: 'pre-transfer', startMs: 800, durationMs: 1200 },
    { name: 'checkpoint', startMs: 2000, durationMs: 200 },
    { name: 'transfer', startMs: 2200, durationMs: 300 },
    { name: 'restore', startMs: 2500, durationMs: 400 },
  ],
  ...m,
});

describe('capacityTimeline', () => {
  it('every server at the start, then the source at the final checkpoint and the destination at the restore end', () => {
    const rows = capacityTimeline(servers, users, [migration({})], t0);
    expect(rows.map((r) => [r.t_ms, r.host, r.users, r.cpus, r.mem_mb])).toEqual([
      [0, 'edge1', 2, 3, 1024],
      [0, 'edge2', 1, 2, 1024],
      // The pre-copy (0-2000 ms) changes nothing: the destination holds files, not a running container.
      [12_200, 'edge1', 1, 1.5, 512],
      [12_900, 'edge2', 2, 3.5, 1536],
    ]);
    expect(rows.every((r) => r.cap_cpus === 4 && r.cap_mem_mb === 4096)).toBe(true);
  });

  it('a failed or rolled-back migration leaves the container where it was', () => {
    const rows = capacityTimeline(
      servers,
      users,
      [migration({ ok: false }), migration({ rolledBack: true }), migration({ ok: null })],
      t0,
    );
    expect(rows).toHaveLength(2);
  });

  it('a swap at one instant: the leaving container first, so the load is never both', () => {
    const swap = [
      migration({ user: 'mu3', from: 'edge2', to: 'edge1', phases: [] }),
      migration({ user: 'mu1', from: 'edge1', to: 'edge2', phases: [] }),
    ];
    const rows = capacityTimeline(servers, users, swap, t0);
    const peaks = capacityPeaks(
      rows.map((r) => ({ ...r, memMB: r.mem_mb, capCpus: r.cap_cpus, capMemMB: r.cap_mem_mb })),
    );
    expect(peaks.find((p) => p.host === 'edge1')).toMatchObject({ maxCpus: 3.5, respected: true });
    expect(rows.filter((r) => r.t_ms === 13_000).map((r) => [r.host, r.cpus])).toEqual([
      ['edge2', 1.5],
      ['edge1', 3.5],
    ]);
  });
});

describe('capacityPeaks', () => {
  it('the most each server held, and whether every instant stayed within its capacity', () => {
    const row = (host: string, cpus: number, memMB: number) => ({
      host,
      users: 1,
      cpus,
      memMB,
      capCpus: 4,
      capMemMB: 4096,
    });
    expect(
      capacityPeaks([
        row('edge1', 3, 100),
        row('edge1', 4, 4096),
        row('edge2', 4.5, 10),
        row('edge2', 1, 10),
      ]),
    ).toEqual([
      { host: 'edge1', maxUsers: 1, maxCpus: 4, maxMemMB: 4096, capCpus: 4, capMemMB: 4096, respected: true },
      {
        host: 'edge2',
        maxUsers: 1,
        maxCpus: 4.5,
        maxMemMB: 10,
        capCpus: 4,
        capMemMB: 4096,
        respected: false,
      },
    ]);
  });
});
