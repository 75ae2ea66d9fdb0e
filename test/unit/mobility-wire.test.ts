/**
 * Every walk and the shadowing travel whole to the agent (its spec) and to the planner (the plan input),
 * and the planner places a user on a walk that passes a place more than once by the expected walk time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Inventory, loadInventory, type Trajectory } from '../../src/lib/inventory/index.js';
import { MAX_TRACE_ROWS } from '../../src/lib/inventory/trace.js';
import { positionAt, rssiMap } from '../../src/lib/mobility/index.js';
import { buildSnapshot } from '../../src/lib/monitor/snapshot.js';
import { agentSpec, parseAgentSpec } from '../../src/lib/mu/agent-spec.js';
import { parsePlanInput, planInputFrom } from '../../src/lib/planner/input.js';
import { openState } from '../../src/lib/state/index.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-wire-'));
let inv: Inventory;
beforeAll(async () => {
  inv = await loadInventory(path.join(fileURLToPath(new URL('../..', import.meta.url)), 'hosts.yml'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WALKS: Trajectory[] = [
  { type: 'roundtrip', from: [0, 0], to: [300, 0], speed: 2 },
  {
    type: 'waypoints',
    points: [
      [0, 0],
      [100, 0],
      [100, 50],
    ],
    speed: 1.5,
    pauseS: 4,
    loop: true,
  },
  { type: 'random-waypoint', area: { from: [0, -20], to: [300, 20] }, speed: [1, 3], pauseS: 2, seed: 5 },
  {
    type: 'trace',
    file: '/srv/traces/street.csv',
    user: 'alice',
    loop: false,
    points: [
      { t: 0, x: 0, y: 0 },
      { t: 10, x: 20, y: 0 },
    ],
  },
];

describe('walks and shadowing on the wire', () => {
  it.each(WALKS)('the agent spec carries a $type walk, and the agent computes the same positions', (walk) => {
    const shadowed = {
      ...inv,
      basestations: inv.basestations.map((b) => ({
        ...b,
        pathLoss: { ...b.pathLoss, shadowing: { sigmaDb: 4, correlationM: 10, seed: 9 } },
      })),
    };
    const spec = agentSpec(shadowed, 'mu1', undefined, { trajectory: walk });
    const back = parseAgentSpec(JSON.stringify(spec));
    expect(back).toEqual(spec);
    expect(back.trajectory).toEqual(walk);
    for (const s of [0, 3.3, 47, 250]) {
      const p = positionAt(back.trajectory, s);
      expect(p).toEqual(positionAt(walk, s));
      expect(rssiMap(back.basestations, p)).toEqual(rssiMap(shadowed.basestations, p));
    }
  });

  it('keeps a spec with the longest trace allowed under the 128 KiB of one command-line argument', () => {
    const points = Array.from({ length: MAX_TRACE_ROWS }, (_, i) => ({
      t: 10_000 + i + 0.123,
      x: -12_345.678,
      y: -12_345.678,
    }));
    const walk: Trajectory = {
      type: 'trace',
      file: `/${'d'.repeat(200)}/t.csv`,
      user: 'u'.repeat(40),
      loop: true,
      points,
    };
    const spec = agentSpec(inv, 'mu1', undefined, { trajectory: walk });
    expect(JSON.stringify(spec).length).toBeLessThan(100 * 1024);
  });

  it('refuses a walk the agent could not follow', () => {
    const spec = agentSpec(inv, 'mu1', undefined);
    const bad = { ...spec, trajectory: { type: 'waypoints', points: [[0, 0]], speed: 1 } };
    expect(() => parseAgentSpec(JSON.stringify(bad))).toThrow(/trajectory/);
  });
});

describe('the plan input', () => {
  function input(walk: Trajectory, reportAtS: number, walkStart: boolean) {
    const state = openState(join(dir, `plan-${Math.random()}.db`));
    const t0 = 10_000_000;
    for (const s of [reportAtS - 0.5, reportAtS])
      state.userReports.insert([
        {
          atMs: t0 - (reportAtS - s) * 1000,
          user: 'mu1',
          position: positionAt(walk, s),
          bs: 'ap1',
          rssi: { ap1: -70, ap2: -78, ap3: -90 },
          rateBps: 65e6,
        },
      ]);
    const snap = buildSnapshot(inv, state, { atMs: t0, windowS: 30 });
    const pi = planInputFrom(inv, state, snap, {
      trajectories: { mu1: walk },
      ...(walkStart ? { walkStartsMs: { mu1: t0 - reportAtS * 1000 - 700 } } : {}),
    });
    state.close();
    return pi;
  }

  it.each(WALKS)('carries a $type walk whole and parses back equal', (walk) => {
    const pi = input(walk, 12, false);
    expect(pi.users[0]?.trajectory).toEqual(walk);
    expect(parsePlanInput(JSON.parse(JSON.stringify(pi)), 'x.json')).toEqual(pi);
  });

  it('places a random waypoint user by the walk time its walk start implies', () => {
    const walk = WALKS[2] as Trajectory;
    const pi = input(walk, 400.3, true);
    expect(pi.users[0]?.walkS).toBeCloseTo(400.3, 3);
  });

  it('still reads a plan input written before the new walks (round trip, no shadowing)', () => {
    const pi = input(WALKS[0] as Trajectory, 12, false);
    const old = JSON.parse(JSON.stringify(pi));
    for (const b of old.basestations) delete b.pathLoss.shadowing;
    expect(parsePlanInput(old, 'old.json').users[0]?.trajectory).toEqual(WALKS[0]);
  });
});
