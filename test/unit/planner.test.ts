import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { positionAt, predictNextHandover, walkTimeAt } from '../../src/lib/mobility/index.js';
import { buildSnapshot } from '../../src/lib/monitor/snapshot.js';
import { parsePlanInput, planInputFrom } from '../../src/lib/planner/input.js';
import { type MeasuredMigration, measuredMigration, withMeasured } from '../../src/lib/planner/measured.js';
import {
  downtimeMs,
  e2eEstimate,
  fitMigrationModel,
  migrationEstimate,
  PRIOR_PSI,
  PRIOR_RHO,
} from '../../src/lib/planner/models.js';
import { buildProblem, plan } from '../../src/lib/planner/plan.js';
import { MARGIN, orchestratedTriggers, reactiveTriggers } from '../../src/lib/planner/triggers.js';
import { openState } from '../../src/lib/state/index.js';
import { seededRandom } from '../../src/lib/util/random.js';

let inv: Inventory;
const dir = mkdtempSync(join(tmpdir(), 'edgectl-planner-'));
beforeAll(async () => {
  inv = await loadInventory(path.join(fileURLToPath(new URL('../..', import.meta.url)), 'hosts.yml'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('eq. 4: the E2E delay of a candidate', () => {
  it('scales processing by the CPU scores, sends the task over the narrower link, adds the RTT', () => {
    const e = e2eEstimate({
      procMs: 10,
      scoreNow: 2000,
      scoreThere: 4000,
      taskBytes: 20_000,
      radioBps: 30e6,
      wiredBps: 100e6,
      rttMs: 102,
    });
    expect(e.procMs).toBe(5);
    expect(e.txMs).toBeCloseTo((160_000 / 30e6) * 1000, 9); // 5.333 ms over the 30 Mbit/s radio
    expect(e.propMs).toBe(102);
    expect(e.totalMs).toBeCloseTo(112.3333, 3);
    // The wired link is the bottleneck when the radio is faster.
    expect(e2eEstimate({ ...base(), radioBps: 300e6, wiredBps: 75e6 }).txMs).toBeCloseTo(
      (160_000 / 75e6) * 1000,
      9,
    );
    // No radio rate: undecodable, infinitely slow; no processing time known: counts 0.
    expect(e2eEstimate({ ...base(), radioBps: 0 }).totalMs).toBe(Number.POSITIVE_INFINITY);
    expect(e2eEstimate({ ...base(), procMs: null }).procMs).toBe(0);
  });
  const base = () => ({
    procMs: 10,
    scoreNow: 1000,
    scoreThere: 1000,
    taskBytes: 20_000,
    radioBps: 30e6,
    wiredBps: 100e6,
    rttMs: 2,
  });
});

describe('eq. 5: pre-migration and migration times', () => {
  it("follows T_chkpt = psi S_D / C_s, the transfers at B_ss', T_restore = rho (S_D + S_pre + S_delta) / C_s'", () => {
    const m = migrationEstimate({
      imageBytes: 100e6,
      preBytes: 100e6,
      deltaBytes: 2e6,
      psi: 0.1,
      scoreFrom: 4000,
      rho: 0.05,
      scoreTo: 4000,
      bandwidthBps: 100e6,
    });
    expect(m.chkptMs).toBeCloseTo(2500, 9);
    expect(m.preTransferMs).toBeCloseTo(8000, 9);
    expect(m.transferMs).toBeCloseTo(160, 9);
    expect(m.restoreMs).toBeCloseTo(2525, 9);
    expect(m.preMigMs).toBeCloseTo(10_500, 9);
    expect(m.migMs).toBeCloseTo(5185, 9);
  });

  it('fits psi and rho as medians of ms * C / bytes, with priors where a server has no history', () => {
    const fit = fitMigrationModel(
      [
        { kind: 'checkpoint', bytes: 1e6, ms: 100, score: 1000 },
        { kind: 'checkpoint', bytes: 2e6, ms: 300, score: 1000 },
        { kind: 'checkpoint', bytes: 1e6, ms: 500, score: 1000 },
        { kind: 'restore', bytes: 4e6, ms: 200, score: 2000 },
      ],
      1000,
    );
    expect(fit.psi).toBeCloseTo(0.15, 9); // 0.1, 0.15, 0.5
    expect(fit.rho).toBeCloseTo(0.1, 9);
    expect(fit.source).toBe('psi from 3 checkpoints, rho from 1 restores');
    expect(fitMigrationModel([], null)).toEqual({
      psi: PRIOR_PSI,
      rho: PRIOR_RHO,
      source: 'psi prior, rho prior',
    });
  });

  it('costs max(T_mig, T_ho) when both change, each alone otherwise, nothing when nothing moves', () => {
    expect(downtimeMs(true, true, 5000, 500)).toBe(5000);
    expect(downtimeMs(true, true, 300, 500)).toBe(500);
    expect(downtimeMs(true, false, 5000, 500)).toBe(5000);
    expect(downtimeMs(false, true, 5000, 500)).toBe(500);
    expect(downtimeMs(false, false, 5000, 500)).toBe(0);
  });
});

describe('trigger times', () => {
  const x = {
    nowMs: 0,
    tHoMs: 100_000,
    migrate: true,
    handover: true,
    preMigMs: 10_000,
    migMs: 5000,
    hoMs: 500,
  };

  it('orchestrated: one outage of max(T_mig, T_ho), ending before t_ho with the margin, pre-migration first', () => {
    const t = orchestratedTriggers(x);
    // W0 = t_ho - 1.1 * 5000 = 94500; W1 = 99500; pre-migration 1.1 * 10000 before W0.
    expect(t).toEqual({
      preMigrationAt: 83_500,
      migrationAt: 94_500,
      handoverAt: 94_500,
      outages: [{ startMs: 94_500, endMs: 99_500, cause: 'both' }],
      lateMs: 0,
    });
    const w = t.outages[0]!;
    expect(w.endMs - w.startMs).toBe(Math.max(x.migMs, x.hoMs));
    expect(w.endMs).toBeLessThanOrEqual(x.tHoMs);
    expect(t.preMigrationAt! + MARGIN * x.preMigMs).toBeLessThanOrEqual(t.migrationAt!);
    // Both outages start together (the final checkpoint, the link going down): the shorter lies inside
    // the longer whichever of the two comes out longer than estimated.
    expect(t.migrationAt).toBe(t.handoverAt);
  });

  it('orchestrated with a handover longer than the migration: the handover opens the window', () => {
    const t = orchestratedTriggers({ ...x, migMs: 300, preMigMs: 1000 });
    expect(t.handoverAt).toBeCloseTo(100_000 - 1.1 * 500, 9);
    expect(t.migrationAt).toBe(t.handoverAt);
    expect(t.outages[0]!.endMs - t.outages[0]!.startMs).toBeCloseTo(500, 9);
    expect(t.preMigrationAt!).toBeLessThan(t.migrationAt!);
  });

  it('orchestrated, late: starts now and says by how much it is late; nothing to move: no triggers', () => {
    const t = orchestratedTriggers({ ...x, nowMs: 95_000 });
    expect(t.lateMs).toBe(11_500);
    expect(t.preMigrationAt).toBe(95_000);
    expect(t.outages[0]!.endMs - t.outages[0]!.startMs).toBe(5000);
    expect(orchestratedTriggers({ ...x, migrate: false, handover: false })).toMatchObject({
      preMigrationAt: null,
      migrationAt: null,
      handoverAt: null,
      outages: [],
    });
    // Only the radio link moves: the handover ends before t_ho, no migration.
    const h = orchestratedTriggers({ ...x, migrate: false });
    expect(h).toMatchObject({ preMigrationAt: null, migrationAt: null, handoverAt: 100_000 - 1.1 * 500 });
  });

  it('reactive: the handover at t_ho, the migration only after it (two outages)', () => {
    const t = reactiveTriggers(x);
    expect(t).toMatchObject({ handoverAt: 100_000, preMigrationAt: 100_500, migrationAt: 110_500 });
    expect(t.outages).toEqual([
      { startMs: 100_000, endMs: 100_500, cause: 'handover' },
      { startMs: 110_500, endMs: 115_500, cause: 'migration' },
    ]);
  });
});

describe('where a user is on its known walk', () => {
  const walk = {
    type: 'roundtrip' as const,
    from: [0, 0] as [number, number],
    to: [120, 0] as [number, number],
    speed: 1,
  };
  it('finds the walk time from a reported position and heading', () => {
    expect(walkTimeAt(walk, [20, 0.3])).toBeCloseTo(20, 9);
    expect(walkTimeAt(walk, [20, 0], [1, 0])).toBeCloseTo(20, 9);
    expect(walkTimeAt(walk, [20, 0], [-1, 0])).toBeCloseTo(220, 9);
    for (const s of [0, 13, 119, 121, 239]) {
      const p = positionAt(walk, s);
      const prev = positionAt(walk, Math.max(0, s - 1));
      expect(walkTimeAt(walk, p, [p[0] - prev[0], p[1] - prev[1]])).toBeCloseTo(s, 6);
    }
  });
});

describe('the planners on the paper’s testbed', () => {
  /** mu1 on ap1 and edge1, 10 m along its walk towards ap2, sending 2 tasks a second. */
  function input() {
    const state = openState(join(dir, `plan-${Math.random()}.db`));
    const t0 = 10_000_000;
    const at = (s: number) => positionAt(inv.users[0]!.trajectory, s);
    for (const s of [9.5, 10]) {
      const p = at(s);
      state.userReports.insert([
        {
          atMs: t0 - (10 - s) * 1000,
          user: 'mu1',
          position: p,
          bs: 'ap1',
          rssi: { ap1: -70, ap2: -78, ap3: -90 },
          rateBps: 65e6,
        },
      ]);
    }
    state.placements.set({
      user: 'mu1',
      service: 'simple',
      host: 'edge1',
      container: 'edgectl-paper-fig3-mu1',
      containerId: 'x',
      address: '198.18.1.11',
      port: 20000,
      sinceMs: 0,
    });
    state.tasks.insert(
      Array.from({ length: 60 }, (_, i) => ({
        user: 'mu1',
        bs: 'ap1',
        host: 'edge1',
        service: 'simple',
        taskId: i,
        counter: i,
        sentMs: t0 - 30_000 + i * 500,
        bytes: 20_000,
        e2eMs: 4,
        procMs: 1,
        txMs: 3,
        reconnects: 0,
        ok: true,
        error: null,
      })),
    );
    for (const [h, s] of [
      ['cloud', 3100],
      ['edge1', 3800],
      ['edge2', 3700],
      ['edge3', 3900],
    ] as const)
      state.hostFacts.setCpuScore(h, s, t0);
    const snap = buildSnapshot(inv, state, { atMs: t0, windowS: 30 });
    const pi = planInputFrom(inv, state, snap);
    state.close();
    return pi;
  }

  it('leaves to a user outside the plan what it takes: its server capacity and its base station place', () => {
    const pi = input();
    const mu1 = pi.users[0]!;
    const mu2 = { ...mu1, name: 'mu2', bs: 'ap2', server: 'edge2', demand: { cpus: 1.5, memMB: 1000 } };
    const withMu2 = { ...pi, users: [mu1, mu2] };
    const outlook = { user: mu1 } as Parameters<typeof buildProblem>[1][number]['outlook'];
    const problem = buildProblem(withMu2, [{ outlook, candidates: [] }]);
    const cap = (id: string) => problem.servers.find((x) => x.id === id)?.capacity;
    const edge2 = pi.servers.find((x) => x.name === 'edge2')!.capacity;
    expect(cap('edge2')).toEqual([edge2.cpus - 1.5, edge2.memMB - 1000]);
    expect(cap('edge1')).toEqual([4, 16384]);
    const ap2 = pi.basestations.find((b) => b.name === 'ap2')!.maxUsers;
    expect(problem.basestations.find((b) => b.id === 'ap2')?.maxUsers).toBe(ap2 - 1);
    expect(problem.users.map((u) => u.id)).toEqual(['mu1']);
  });

  it('builds a plan input the schema accepts, with the walk time and the n_u of the window', () => {
    const pi = input();
    expect(parsePlanInput(JSON.parse(JSON.stringify(pi)), 'x.json')).toEqual(pi);
    const u = pi.users[0]!;
    expect(u).toMatchObject({
      name: 'mu1',
      bs: 'ap1',
      server: 'edge1',
      tasks: 60,
      procMs: 1,
      taskBytes: 20_000,
    });
    expect(u.walkS).toBeCloseTo(10, 6);
    expect(pi.links.find((l) => l.a === 'ap1' && l.b === 'edge2')).toMatchObject({
      rttMs: 102,
      rttSource: 'hosts.yml',
    });
    expect(() => parsePlanInput({ v: 2 }, 'bad.json')).toThrow(/bad.json is not a plan input/);
    expect(u.migration.source).toBe('prior');
  });

  it('takes S_pre and S_delta from the newest probe checkpoints or delta migration, psi from the probes', () => {
    const state = openState(join(dir, 'sizes.db'));
    const t0 = 5_000_000;
    state.hostFacts.setCpuScore('edge1', 4000, t0);
    const rec = (kind: string, bytes: number, ms: number, at: number) =>
      state.checkpoints.insert({ migrationId: null, atMs: at, host: 'edge1', user: 'mu1', kind, bytes, ms });
    rec('probe-pre', 10e6, 1000, t0);
    rec('probe-final', 10e6, 1200, t0);
    rec('probe-delta', 50_000, 0, t0);
    const snap = buildSnapshot(inv, state, { atMs: t0, windowS: 30 });
    const pi = planInputFrom(inv, state, snap);
    expect(pi.users[0]?.migration).toEqual({
      imageBytes: 10e6,
      preBytes: 10e6,
      deltaBytes: 50_000,
      source: 'its probe checkpoints',
    });
    // psi = median of 1000 * 4000 / 10e6 and 1200 * 4000 / 10e6.
    expect(pi.servers.find((x) => x.name === 'edge1')?.psi).toBeCloseTo(0.44, 9);
    expect(pi.servers.find((x) => x.name === 'edge2')?.fit).toBe('psi prior, rho prior');
    // A later delta migration's own checkpoints win.
    rec('pre', 20e6, 2000, t0 + 10);
    rec('final', 21e6, 2000, t0 + 10);
    rec('delta', 70_000, 100, t0 + 10);
    expect(planInputFrom(inv, state, snap).users[0]?.migration).toMatchObject({
      imageBytes: 21e6,
      preBytes: 20e6,
      deltaBytes: 70_000,
      source: 'its last delta migration',
    });
    state.close();
  });

  it('orchestrated moves mu1 to ap2 and edge2 before its predicted handover, in one outage', async () => {
    const pi = input();
    const r = await plan(pi, { planner: 'orchestrated', solver: 'lp-solver' });
    expect(r.status).toBe('optimal');
    const d = r.decisions[0]!;
    expect(d).toMatchObject({
      user: 'mu1',
      bs: 'ap2',
      host: 'edge2',
      migrate: true,
      handover: true,
      lateMs: 0,
    });
    const predicted = predictNextHandover(inv.users[0]!.trajectory, inv.basestations, 'ap1', 10);
    expect(d.predictedHandover?.to).toBe('ap2');
    expect(d.predictedHandover?.atMs).toBeCloseTo(pi.atMs + ((predicted?.atS ?? 0) - 10) * 1000, -1);
    const { preMigrationAt, migrationAt, handoverAt } = d.triggers;
    expect(preMigrationAt!).toBeLessThan(migrationAt!);
    expect(handoverAt!).toBeLessThan(d.predictedHandover!.atMs);
    expect(d.outages).toHaveLength(1);
    expect(d.outages[0]!.endMs).toBeLessThanOrEqual(d.predictedHandover!.atMs);
    expect(d.estimates.downtimeMs).toBeCloseTo(Math.max(d.estimates.migMs!, d.estimates.hoMs), 0);
    // Through ap2, edge1 is one 50 ms link away each way; edge2 is next to it.
    expect(d.estimates.refE2eMs!).toBeGreaterThan(100);
    expect(d.estimates.e2eMs).toBeLessThan(10);
  });

  it('orchestrated times the move by the outages measured, where there are some: one window of the longer', async () => {
    const pi = input();
    const m = (atMs: number, downtimeMs: number) => ({
      service: 'simple',
      from: 'edge1',
      to: 'edge2',
      atMs,
      downtimeMs,
      preMs: 4000,
      imageBytes: null,
    });
    const measured = { ...pi, measuredMigrations: [m(1, 1100), m(2, 1300), m(3, 1200)] };
    const d = (await plan(measured, { planner: 'orchestrated', solver: 'lp-solver' })).decisions[0]!;
    expect(d).toMatchObject({ host: 'edge2', bs: 'ap2', migrate: true, handover: true });
    expect(d.estimates).toMatchObject({
      migMs: 1200,
      preMigMs: pi.migrationSetupMs + 4000,
      setupMs: pi.migrationSetupMs,
      migSource: 'median of 3 migrations edge1 -> edge2',
    });
    // T_mig (1200) > T_ho (500): the window is the migration's, the handover starts with it.
    expect(d.triggers.handoverAt).toBe(d.triggers.migrationAt);
    expect(d.triggers.migrationAt! - d.triggers.preMigrationAt!).toBeCloseTo(
      1.1 * (pi.migrationSetupMs + 4000),
      -1,
    );
    // Without them, eq. 5 (its source said).
    const model = (await plan(pi, { planner: 'orchestrated', solver: 'lp-solver' })).decisions[0]!;
    expect(model.estimates.migSource).toBe('model (eq. 5)');
    expect(model.estimates.migMs).not.toBe(1200);
  });

  it('nearest reacts with the same pair; cloud sends it to the cloud; random is seeded', async () => {
    const pi = input();
    const n = (await plan(pi, { planner: 'nearest' })).decisions[0]!;
    expect(n).toMatchObject({ bs: 'ap2', host: 'edge2' });
    expect(n.triggers.handoverAt).toBe(n.predictedHandover!.atMs);
    expect(n.triggers.migrationAt!).toBeGreaterThan(n.triggers.handoverAt!);
    expect(n.outages).toHaveLength(2);
    const c = (await plan(pi, { planner: 'cloud' })).decisions[0]!;
    expect(c).toMatchObject({ bs: 'ap2', host: 'cloud' });
    const r1 = await plan(pi, { planner: 'random', seed: 7 });
    const r2 = await plan(pi, { planner: 'random', seed: 7 });
    expect(r1.decisions).toEqual(r2.decisions);
    const hosts = new Set<string>();
    for (let seed = 1; seed < 40; seed++)
      hosts.add((await plan(pi, { planner: 'random', seed })).decisions[0]!.host);
    expect(hosts.size).toBeGreaterThan(1);
    const rnd = seededRandom(3);
    expect(rnd()).toBe(seededRandom(3)());
  });
});

describe("the planner's migration times from the migrations measured", () => {
  const sample = (over: Partial<MeasuredMigration>): MeasuredMigration => ({
    service: 'simple',
    from: 'edge1',
    to: 'edge2',
    atMs: 0,
    downtimeMs: 1000,
    preMs: 3000,
    imageBytes: 10e6,
    ...over,
  });
  const roleOf = (s: string) => (s === 'cloud' ? 'cloud' : s.startsWith('edge') ? 'edge' : undefined);
  const query = { service: 'simple', from: 'edge1', to: 'edge2', imageBytes: 10e6, roleOf };

  it('takes the median of the newest 5 of the same service, size and servers; else of similar servers; else none', () => {
    const history = [
      // Between the same servers: the newest five are 900..1300 (the oldest, 5000, is left out).
      ...[5000, 900, 1300, 1000, 1200, 1100].map((d, i) =>
        sample({ atMs: i, downtimeMs: d, preMs: 2000 + i }),
      ),
      // Another service, an image 3x the size, other servers: none of them count here.
      sample({ service: 'compute', atMs: 10, downtimeMs: 9000 }),
      sample({ imageBytes: 30e6, atMs: 11, downtimeMs: 9000 }),
      sample({ from: 'edge2', to: 'edge3', atMs: 12, downtimeMs: 700, preMs: null }),
      sample({ from: 'edge3', to: 'cloud', atMs: 13, downtimeMs: 2500, preMs: 6000 }),
    ];
    expect(measuredMigration(history, query)).toEqual({
      migMs: 1100,
      preMs: 2003, // median of 2001..2005
      source: 'median of 5 migrations edge1 -> edge2',
    });
    // edge3 -> edge1 was never measured: the edge -> edge ones stand in, the newest five: 700 (edge2 ->
    // edge3, no pre phases measured), 1100, 1200, 1000, 1300.
    expect(measuredMigration(history, { ...query, from: 'edge3', to: 'edge1' })).toEqual({
      migMs: 1100,
      preMs: 2003.5,
      source: 'median of 5 migrations edge -> edge servers',
    });
    expect(measuredMigration(history, { ...query, from: 'edge1', to: 'cloud' })).toMatchObject({
      migMs: 2500,
      preMs: 6000,
      source: 'median of 1 migrations edge -> cloud servers',
    });
    expect(measuredMigration(history, { ...query, service: 'yolo' })).toBeNull();
    // A size not known on either side does not rule a migration out.
    expect(measuredMigration([sample({ imageBytes: null })], query)?.migMs).toBe(1000);
    expect(measuredMigration([sample({ imageBytes: 30e6 })], { ...query, imageBytes: null })?.migMs).toBe(
      1000,
    );
  });

  it('puts the measured T_mig and pre phases in place of eq. 5’s, keeping its set-up and parts', () => {
    const model = migrationEstimate({
      setupMs: 1500,
      imageBytes: 10e6,
      preBytes: 10e6,
      deltaBytes: 1e5,
      psi: 0.1,
      scoreFrom: 1000,
      rho: 0.1,
      scoreTo: 1000,
      bandwidthBps: 100e6,
    });
    const m = withMeasured(model, {
      migMs: 1200,
      preMs: 3000,
      source: 'median of 2 migrations edge1 -> edge2',
    });
    expect(m).toMatchObject({
      migMs: 1200,
      preMigMs: 4500,
      chkptMs: model.chkptMs,
      restoreMs: model.restoreMs,
      migSource: 'median of 2 migrations edge1 -> edge2',
      preSource: 'median of 2 migrations edge1 -> edge2',
    });
    const onlyMig = withMeasured(model, { migMs: 1200, preMs: null, source: 'x' });
    expect(onlyMig.preMigMs).toBe(model.preMigMs);
    expect(onlyMig.preSource).toBe('model (eq. 5)');
    expect(withMeasured(model, null)).toMatchObject({ migMs: model.migMs, migSource: 'model (eq. 5)' });
  });

  it('reads the migrations that ended well from the state database, not those of orchestrated runs', () => {
    const state = openState(join(dir, 'measured.db'));
    const run = (planner: string) =>
      state.experiments.start({
        name: planner,
        planner,
        service: 'simple',
        startedMs: 0,
        outDir: null,
        config: null,
      });
    const record = (experimentId: number | null, ok: boolean, downtimeMs: number | null, at: number) => {
      const id = state.migrations.start({
        experimentId,
        user: 'mu1',
        service: 'simple',
        fromHost: 'edge1',
        toHost: 'edge2',
        strategy: 'delta',
        codec: 'pages',
        startedMs: at,
      });
      state.checkpoints.insert({
        migrationId: id,
        atMs: at,
        host: 'edge1',
        user: 'mu1',
        kind: 'final',
        bytes: 9e6,
        ms: 90,
      });
      state.migrations.finish(
        id,
        { finishedMs: at + 5000, downtimeMs, totalMs: 5000, bytes: 0, ok, rolledBack: !ok, error: null },
        [
          { name: 'prepare', startMs: 0, durationMs: 800, bytes: null },
          { name: 'pre-checkpoint', startMs: 800, durationMs: 300, bytes: 9e6 },
          { name: 'pre-transfer', startMs: 1100, durationMs: 1700, bytes: 9e6 },
          { name: 'checkpoint', startMs: 3000, durationMs: 100, bytes: 9e6 },
        ],
      );
    };
    record(run('nearest'), true, 1234, 1000);
    record(null, true, 1500, 2000);
    record(run('orchestrated'), true, 600, 3000);
    record(run('random'), false, null, 4000);
    const snap = buildSnapshot(inv, state, { atMs: 10_000, windowS: 30 });
    const got = planInputFrom(inv, state, snap).measuredMigrations;
    state.close();
    expect(got).toEqual([
      {
        service: 'simple',
        from: 'edge1',
        to: 'edge2',
        atMs: 2000,
        downtimeMs: 1500,
        preMs: 2000,
        imageBytes: 9e6,
      },
      {
        service: 'simple',
        from: 'edge1',
        to: 'edge2',
        atMs: 1000,
        downtimeMs: 1234,
        preMs: 2000,
        imageBytes: 9e6,
      },
    ]);
  });
});
