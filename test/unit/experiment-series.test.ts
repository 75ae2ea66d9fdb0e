/**
 * An experiment kept run by run (series.ts), exported from the state database alone (export.ts) and resumed
 * (runs.ts), with fake runs: each inserts a few rows into an in-memory database as a real run's agents and
 * migrations would. A "crash" is a run that never returns: the directory is read while it hangs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterEach, describe, expect, it } from 'vitest';
import { exportExperiment } from '../../src/lib/experiment/export.js';
import type { ExperimentMeta, RunMeta } from '../../src/lib/experiment/format.js';
import { resumeExperiment } from '../../src/lib/experiment/run.js';
import {
  type Attempt,
  configConflicts,
  type ExperimentConfig,
  plannedRuns,
  readExperiment,
  resumePlan,
} from '../../src/lib/experiment/runs.js';
import { type RunRecord, runSeries } from '../../src/lib/experiment/series.js';
import type { Inventory } from '../../src/lib/inventory/index.js';
import type { SshPool } from '../../src/lib/remote/index.js';
import { openState, type StateDb } from '../../src/lib/state/index.js';

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), 'edgectl-series-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const config: ExperimentConfig = {
  planners: ['cloud', 'nearest'],
  services: ['simple'],
  durationS: 10,
  velocity: 2,
  seed: 7,
  repeat: 2,
  planEveryMs: 1000,
  monitorEveryMs: 5000,
  testbed: 'lab',
  inventorySha256: 'abc',
};
const planned = plannedRuns(config);

/** A new experiment's row and meta, as runExperiment makes them. */
function newExperiment(state: StateDb, outDir: string): ExperimentMeta {
  const meta: ExperimentMeta = {
    version: 1,
    id: 0,
    args: {},
    testbed: 'lab',
    inventory: { testbed: 'lab' },
    versions: { edgectl: 'test', node: 'v20', docker: {}, criu: {}, kernel: {} },
    links: [],
    imageBytes: {},
    startedEpochMs: 1_000,
    endedEpochMs: 1_000,
    complete: false,
    finished: false,
    plannedRuns: planned.map((p) => p.run),
    runs: [],
    caveats: [],
  };
  meta.id = state.experiments.start({
    name: 'x',
    planner: null,
    service: null,
    startedMs: 1_000,
    outDir,
    config,
    meta,
  });
  return meta;
}

/** A fake run: three tasks a second apart from its start (counter continuing), one handover outage. */
async function fakeRun(state: StateDb, record: RunRecord): Promise<void> {
  const m = record.meta;
  m.startedEpochMs += 5; // the agents started: t0
  record.save();
  const task = (i: number) => ({
    experimentId: m.experimentId,
    user: 'mu1',
    bs: 'ap1',
    host: m.planner === 'cloud' ? 'cloud' : 'edge1',
    service: m.service,
    taskId: i,
    counter: i,
    sentMs: m.startedEpochMs + i * 1000,
    bytes: 10,
    e2eMs: m.planner === 'cloud' ? 300 : 20,
    procMs: 1,
    txMs: 19,
    reconnects: 0,
    ok: true,
    error: null,
  });
  state.tasks.insert([task(1), task(2), task(3)]);
  state.gaps.insert({
    experimentId: m.experimentId,
    user: 'mu1',
    startMs: m.startedEpochMs + 1500,
    endMs: m.startedEpochMs + 1700,
    cause: 'handover',
  });
  m.windowS = 10;
  m.complete = true;
}

const csv = (dir: string, name: string) =>
  parse(readFileSync(join(dir, name)), { columns: true }) as Record<string, string>[];
const json = <T>(dir: string, name: string) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as T;
const DATA = [
  'meta.json',
  'summary.json',
  'tasks.csv',
  'migrations.csv',
  'handovers.csv',
  'outages.csv',
  'checkpoints.csv',
  'decisions.csv',
  'migration_phases.csv',
  'positions.csv',
  'rssi.csv',
  'host_stats.csv',
  'links.csv',
  'capacity.csv',
  'datapackage.json',
];

describe('an experiment kept run by run', () => {
  it('has complete files for the runs that ended while the next one runs; export rebuilds them from the database; resume runs only the rest', async () => {
    const state = openState(':memory:');
    const out = join(scratch(), 'results');
    const meta = newExperiment(state, out);
    const ran: string[] = [];
    let seen: { meta: ExperimentMeta; tasks: Record<string, string>[]; files: string[] } | undefined;
    // The "crash": the second run records its rows, then never ends (edgectl SIGKILLed during it).
    const crashed = runSeries({
      state,
      outDir: out,
      meta,
      planned,
      durationS: config.durationS,
      velocity: 2,
      runOne: async (p, record) => {
        ran.push(p.run);
        await fakeRun(state, record);
        if (ran.length < 2) return;
        seen = {
          meta: json<ExperimentMeta>(out, 'meta.json'),
          tasks: csv(out, 'tasks.csv'),
          files: readdirSync(out).sort(),
        };
        await new Promise(() => {});
      },
      warn: () => {},
    });
    for (let i = 0; i < 500 && seen === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    expect(ran).toEqual(['cloud-simple-1', 'nearest-simple-1']);
    // What a reader finds at that instant: every file whole, no temporary file, the first run in all of them.
    expect(seen?.files).toEqual([...DATA].sort());
    expect(seen?.meta).toMatchObject({ id: meta.id, finished: false, complete: false });
    expect(seen?.meta.plannedRuns).toEqual(planned.map((p) => p.run));
    expect(seen?.meta.runs.map((r) => [r.run, r.complete])).toEqual([['cloud-simple-1', true]]);
    expect(seen?.tasks.map((t) => [t['run'], t['t_ms'], t['counter']])).toEqual([
      ['cloud-simple-1', '1000', '1'],
      ['cloud-simple-1', '2000', '2'],
      ['cloud-simple-1', '3000', '3'],
    ]);
    const written = Object.fromEntries(DATA.map((f) => [f, readFileSync(join(out, f), 'utf8')]));

    // Export from the database alone: the same files, byte for byte.
    const again = join(scratch(), 'exported');
    const x = await exportExperiment(state, meta.id ?? 0, { outDir: again });
    expect(x).toMatchObject({
      finished: false,
      complete: false,
      missing: ['nearest-simple-1', 'cloud-simple-2', 'nearest-simple-2'],
    });
    for (const f of DATA) expect(readFileSync(join(again, f), 'utf8'), f).toBe(written[f]);
    // With the run that never ended: its rows so far, marked incomplete.
    const partial = await exportExperiment(state, meta.id ?? 0, { outDir: again, unfinished: true });
    expect(partial.runs.map((r) => [r.run, r.complete])).toEqual([
      ['cloud-simple-1', true],
      ['nearest-simple-1', false],
    ]);
    expect(partial.warnings).toHaveLength(1);
    expect(csv(again, 'tasks.csv').filter((t) => t['run'] === 'nearest-simple-1')).toHaveLength(3);
    expect(json<ExperimentMeta>(again, 'meta.json').runs[1]?.error).toMatch(/never ended/);

    // Resume: the complete run is kept, the other three run, and the directory ends complete.
    const stored = readExperiment(state, meta.id ?? 0);
    const plan = resumePlan(planned, stored.attempts);
    expect(plan.toRun.map((p) => p.run)).toEqual(['nearest-simple-1', 'cloud-simple-2', 'nearest-simple-2']);
    ran.length = 0;
    const r = await runSeries({
      state,
      outDir: out,
      meta: stored.meta,
      planned,
      kept: plan.kept,
      durationS: config.durationS,
      velocity: 2,
      runOne: async (p, record) => {
        ran.push(p.run);
        await fakeRun(state, record);
      },
      warn: () => {},
    });
    expect(ran).toEqual(['nearest-simple-1', 'cloud-simple-2', 'nearest-simple-2']);
    expect(r.complete).toBe(true);
    const done = json<ExperimentMeta>(out, 'meta.json');
    expect(done).toMatchObject({ finished: true, complete: true });
    expect(done.runs.map((m) => m.run)).toEqual(planned.map((p) => p.run));
    // The kept run is the same attempt, its rows unchanged.
    expect(done.runs[0]?.experimentId).toBe(seen?.meta.runs[0]?.experimentId);
    expect(csv(out, 'tasks.csv').slice(0, 3)).toEqual(seen?.tasks);
    expect(csv(out, 'tasks.csv')).toHaveLength(12);
    expect(json<{ complete: boolean; planners: unknown[] }>(out, 'summary.json').complete).toBe(true);
    // And the database agrees: nothing is left to run.
    expect(resumePlan(planned, readExperiment(state, meta.id ?? 0).attempts).toRun).toEqual([]);
    expect(state.experiments.get(meta.id ?? 0)?.finishedMs).not.toBeNull();
    void crashed;
    state.close();
  });

  it('stops between runs when interrupted: the run under way is kept incomplete, the experiment finished and incomplete', async () => {
    const state = openState(':memory:');
    const out = join(scratch(), 'results');
    const meta = newExperiment(state, out);
    const stop = new AbortController();
    const ran: string[] = [];
    const r = await runSeries({
      state,
      outDir: out,
      meta,
      planned,
      durationS: config.durationS,
      velocity: 2,
      signal: stop.signal,
      runOne: async (p, record) => {
        ran.push(p.run);
        await fakeRun(state, record);
        if (ran.length === 2) {
          stop.abort();
          record.meta.complete = false;
          record.meta.error = 'interrupted';
        }
      },
      warn: () => {},
    });
    expect(ran).toEqual(['cloud-simple-1', 'nearest-simple-1']);
    expect(r.complete).toBe(false);
    const m = json<ExperimentMeta>(out, 'meta.json');
    expect(m).toMatchObject({ finished: true, complete: false });
    expect(m.runs.map((x) => [x.run, x.complete])).toEqual([
      ['cloud-simple-1', true],
      ['nearest-simple-1', false],
    ]);
    // Resuming runs the interrupted one again, then the rest; the incomplete attempt is shown until then.
    const plan = resumePlan(planned, readExperiment(state, meta.id ?? 0).attempts);
    expect(plan.kept.map((a) => [a.meta.run, a.state])).toEqual([
      ['cloud-simple-1', 'complete'],
      ['nearest-simple-1', 'ended'],
    ]);
    expect(plan.toRun.map((p) => p.run)).toEqual(['nearest-simple-1', 'cloud-simple-2', 'nearest-simple-2']);
    state.close();
  });

  it('a run that fails is recorded with its error and the next one runs', async () => {
    const state = openState(':memory:');
    const out = join(scratch(), 'results');
    const warnings: string[] = [];
    const r = await runSeries({
      state,
      outDir: out,
      meta: newExperiment(state, out),
      planned: planned.slice(0, 2),
      durationS: 10,
      velocity: 2,
      runOne: async (p, record) => {
        if (p.planner === 'cloud') throw new Error('cloud finds no server');
        await fakeRun(state, record);
      },
      warn: (w) => warnings.push(w),
    });
    expect(r.runs.map((x) => [x.run, x.complete, x.error])).toEqual([
      ['cloud-simple-1', false, 'cloud finds no server'],
      ['nearest-simple-1', true, undefined],
    ]);
    expect(warnings).toEqual(['[cloud-simple-1] cloud finds no server']);
    state.close();
  });

  it('keeps the data when the report fails, and says how to draw it again', async () => {
    const state = openState(':memory:');
    const out = join(scratch(), 'results');
    const warnings: string[] = [];
    const r = await runSeries({
      state,
      outDir: out,
      meta: newExperiment(state, out),
      planned: planned.slice(0, 1),
      durationS: 10,
      velocity: 2,
      runOne: (_p, record) => fakeRun(state, record),
      report: () => Promise.reject(new Error('could not draw fig6-handover (no handover)')),
      warn: (w) => warnings.push(w),
    });
    expect(r.complete).toBe(true);
    expect(r.report).toBeUndefined();
    expect(csv(out, 'tasks.csv').length).toBeGreaterThan(0);
    expect(warnings.at(-1)).toBe(
      `drawing the report: could not draw fig6-handover (no handover); the results are kept: draw it again with edgectl experiment report ${out}`,
    );
    state.close();
  });
});

describe('resume planning', () => {
  const attempt = (run: string, id: number, state: Attempt['state']): Attempt => ({
    id,
    state,
    meta: { run, complete: state === 'complete', experimentId: id } as RunMeta,
  });

  it('plans repetitions, then services, then planners, each repetition with its own seed', () => {
    expect(plannedRuns({ planners: ['a', 'b'], services: ['s', 't'], repeat: 2, seed: 5 })).toEqual([
      { run: 'a-s-1', planner: 'a', service: 's', repeat: 1, seed: 5 },
      { run: 'b-s-1', planner: 'b', service: 's', repeat: 1, seed: 5 },
      { run: 'a-t-1', planner: 'a', service: 't', repeat: 1, seed: 5 },
      { run: 'b-t-1', planner: 'b', service: 't', repeat: 1, seed: 5 },
      { run: 'a-s-2', planner: 'a', service: 's', repeat: 2, seed: 6 },
      { run: 'b-s-2', planner: 'b', service: 's', repeat: 2, seed: 6 },
      { run: 'a-t-2', planner: 'a', service: 't', repeat: 2, seed: 6 },
      { run: 'b-t-2', planner: 'b', service: 't', repeat: 2, seed: 6 },
    ]);
  });

  it('keeps a complete attempt over a later one that did not end, and runs every run without a complete one', () => {
    const p = plannedRuns(config);
    const plan = resumePlan(p, [
      attempt('cloud-simple-1', 1, 'complete'),
      attempt('nearest-simple-1', 2, 'ended'),
      attempt('nearest-simple-1', 3, 'unfinished'),
      attempt('cloud-simple-1', 4, 'unfinished'),
      attempt('cloud-simple-2', 5, 'ended'),
      attempt('cloud-simple-2', 6, 'complete'),
      attempt('other-simple-1', 7, 'complete'),
    ]);
    expect(plan.kept.map((a) => a.id)).toEqual([1, 2, 6]);
    expect(plan.toRun.map((r) => r.run)).toEqual(['nearest-simple-1', 'nearest-simple-2']);
    expect(resumePlan(p, []).toRun).toEqual(p);
  });

  it('names every setting that would make it another experiment', () => {
    expect(configConflicts(config, {})).toEqual([]);
    expect(configConflicts(config, { durationS: 10, planners: ['cloud', 'nearest'] })).toEqual([]);
    expect(
      configConflicts(config, {
        durationS: 60,
        planners: ['nearest', 'cloud'],
        velocity: 3,
        inventorySha256: 'def',
      }),
    ).toEqual([
      '--planner nearest,cloud (it ran with cloud,nearest)',
      '--duration 60 (it ran with 10)',
      '--velocity 3 (it ran with 2)',
      'hosts.yml is not the one it ran with (meta.json `inventory` holds that one)',
    ]);
  });

  it('refuses to resume with another configuration before touching the testbed, and an id that is not an experiment', async () => {
    const state = openState(':memory:');
    const meta = newExperiment(state, join(scratch(), 'results'));
    const inv = { testbed: 'lab', raw: { testbed: 'lab' } } as unknown as Inventory;
    // Any use of the SSH pool would throw: the refusal comes first.
    const pool = new Proxy(
      {},
      {
        get: () => {
          throw new Error('the testbed was touched');
        },
      },
    ) as SshPool;
    await expect(
      resumeExperiment(inv, pool, state, { id: meta.id ?? 0, given: { durationS: 60 } }),
    ).rejects.toThrow(
      /would not be the same experiment.*--duration 60 \(it ran with 10\).*hosts\.yml is not the one/,
    );
    await expect(resumeExperiment(inv, pool, state, { id: 999 })).rejects.toThrow(/has no experiment 999/);
    const run = state.experiments.start({
      name: 'r',
      parentId: meta.id ?? 0,
      planner: 'cloud',
      service: 'simple',
      startedMs: 0,
      outDir: null,
      config: null,
    });
    await expect(exportExperiment(state, run)).rejects.toThrow(`is the run r of experiment ${meta.id}`);
    state.close();
  });
});
