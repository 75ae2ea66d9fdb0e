import { describe, expect, it } from 'vitest';
import type { RunMeta } from '../../src/lib/experiment/format.js';
import {
  counterResets,
  downtimeOf,
  emptyRunRows,
  interval,
  type RunRows,
  runRows,
  stat,
  summarise,
  toCsv,
} from '../../src/lib/experiment/results.js';
import { openState } from '../../src/lib/state/index.js';

const meta = (planner: string, repeat = 1): RunMeta => ({
  run: `${planner}-simple-${repeat}`,
  planner,
  service: 'simple',
  repeat,
  startedEpochMs: 0,
  endedEpochMs: 1,
  complete: true,
  velocity: 1,
  seed: 1,
  experimentId: 1,
});
const task = (counter: number, e2e: number, ok = true) => ({
  user: 'mu1',
  counter,
  e2e_ms: e2e,
  proc_ms: 1,
  tx_ms: e2e - 1,
  ok,
});

describe('experiment results', () => {
  it('counts overlapping outages once (a coordinated handover inside a migration), per user', () => {
    expect(
      downtimeOf([
        { user: 'mu1', t_ms: 1000, end_t_ms: 3000 },
        { user: 'mu1', t_ms: 1500, end_t_ms: 2000 },
        { user: 'mu1', t_ms: 5000, end_t_ms: 5500 },
        { user: 'mu2', t_ms: 1000, end_t_ms: 1100 },
        { user: 'mu1', t_ms: 6000, end_t_ms: null },
      ]),
    ).toBe(2000 + 500 + 100);
    expect(downtimeOf([])).toBe(0);
  });

  it('finds counter resets among answered tasks only', () => {
    expect(counterResets([task(1, 5), task(2, 5), task(3, 5)])).toBe(0);
    expect(counterResets([task(5, 5), task(6, 5), task(1, 5), task(2, 5)])).toBe(1);
    expect(counterResets([task(5, 5), { ...task(0, 5), ok: false }, task(6, 5)])).toBe(0);
  });

  it('gives means, sample standard deviations and Student-t 95% intervals', () => {
    expect(stat([])).toEqual({ mean: null, std: null, n: 0 });
    expect(stat([2, 4, 4, 4, 5, 5, 7, 9])).toEqual({ mean: 5, std: 2.138, n: 8 });
    expect(interval([10])).toEqual({ mean: 10, ci95: null, n: 1 });
    // n = 3, std 1: t(2) = 4.303, 4.303 / sqrt(3) = 2.484
    expect(interval([1, 2, 3])).toEqual({ mean: 2, ci95: 2.484, n: 3 });
    // n = 41, std 1: t(40) = 2.021075 (beyond the old table's 30 df), / sqrt(41) = 0.316
    expect(
      interval(Array.from({ length: 41 }, (_, i) => (i % 2 === 0 ? 1 : -1) * Math.sqrt(40 / 41))).ci95,
    ).toBe(0.316);
  });

  it('summarises per planner with ratios to orchestrated', () => {
    const empty = emptyRunRows();
    const s = summarise(
      [
        {
          meta: meta('nearest'),
          rows: {
            ...empty,
            tasks: [task(1, 100), task(2, 100)],
            outages: [
              { user: 'mu1', t_ms: 0, end_t_ms: 500 },
              { user: 'mu1', t_ms: 1000, end_t_ms: 2500 },
            ],
          },
        },
        {
          meta: meta('orchestrated'),
          rows: {
            ...empty,
            tasks: [task(1, 50), task(2, 50)],
            outages: [{ user: 'mu1', t_ms: 0, end_t_ms: 1000 }],
          },
        },
      ],
      true,
    );
    const n = s.planners.find((p) => p.planner === 'nearest')!;
    expect(n).toMatchObject({
      tasks: 2,
      failedTasks: 0,
      counterContinuous: true,
      downtimeMs: { mean: 2000 },
    });
    expect(n.ratioToOrchestrated).toEqual({ e2e: 2, downtime: 2 });
    expect(s.planners.find((p) => p.planner === 'orchestrated')!.ratioToOrchestrated).toEqual({
      e2e: 1,
      downtime: 1,
    });
  });

  it('writes CSV with a header, quoting what needs it, and empty cells for missing values', () => {
    expect(toCsv([], ['a', 'b'])).toBe('a,b\n');
    expect(
      toCsv(
        [
          { a: 'x,y', b: null },
          { a: true, b: 2 },
        ],
        ['a', 'b'],
      ),
    ).toBe('a,b\n"x,y",\ntrue,2\n');
  });

  it('compares planners over repetitions with Welch, over handovers with a bootstrap', () => {
    const run = (planner: string, repeat: number, downMs: number, e2e: number, handovers = 1) => ({
      meta: meta(planner, repeat),
      rows: {
        ...emptyRunRows(),
        tasks: [task(1, e2e), task(2, e2e)].map((t, i) => ({ ...t, t_ms: i * 100 })),
        // handovers 10 s apart, each with one outage of downMs / handovers starting at it
        handovers: Array.from({ length: handovers }, (_, i) => ({ user: 'mu1', t_ms: 1000 + i * 10_000 })),
        outages: Array.from({ length: handovers }, (_, i) => ({
          user: 'mu1',
          t_ms: 1000 + i * 10_000,
          end_t_ms: 1000 + i * 10_000 + downMs / handovers,
        })),
      } satisfies RunRows,
    });
    const s = summarise(
      [
        run('nearest', 1, 2000, 100),
        run('nearest', 2, 2200, 100),
        run('orchestrated', 1, 1000, 50),
        run('orchestrated', 2, 1200, 50),
      ],
      true,
    );
    // orchestrated - nearest: -1000 ms; s² = 20000 on both sides, se = sqrt(20000) = 141.421, df = 2,
    // t(0.975, 2) = 4.302653: half-width 608.487; relative -1000 / 2100 = -0.4762, its interval over
    // repetitions lo / 2100 = -0.7659 to hi / 2100 = -0.1864.
    expect(s.comparisons?.find((c) => c.metric === 'downtimeMs')).toEqual({
      a: 'orchestrated',
      b: 'nearest',
      service: 'simple',
      metric: 'downtimeMs',
      method: 'repetitions',
      meanA: 1100,
      meanB: 2100,
      diff: -1000,
      lo: -1608.487,
      hi: -391.513,
      n: [2, 2],
      includesZero: false,
      relative: -0.4762,
      relativeLo: -0.7659,
      relativeHi: -0.1864,
    });
    // Constant E2E on each side: a zero-width interval at -50.
    expect(s.comparisons?.find((c) => c.metric === 'meanE2eMs')).toMatchObject({
      diff: -50,
      lo: -50,
      hi: -50,
      includesZero: false,
      relative: -0.5,
    });
    expect(s.planners.find((p) => p.planner === 'nearest')?.downtimePerHandoverMs).toMatchObject({
      mean: 2100,
      n: 2,
    });

    // One run each, four handovers each: per handover, 250 or 300 ms against 500 or 550 ms.
    const one = summarise([run('nearest', 1, 2000, 100, 4), run('orchestrated', 1, 1000, 50, 4)], true);
    const d = one.comparisons?.find((c) => c.metric === 'downtimeMs');
    expect(d).toMatchObject({ method: 'bootstrap-handovers', n: [4, 4], meanA: 250, meanB: 500, diff: -250 });
    expect(d).toMatchObject({ lo: -250, hi: -250, includesZero: false }); // constant per handover
    const few = summarise([run('nearest', 1, 2000, 100, 1), run('orchestrated', 1, 1000, 50, 1)], true);
    expect(few.comparisons?.[0]).toMatchObject({
      method: 'bootstrap-handovers',
      diff: -1000,
      lo: null,
      hi: null,
      includesZero: null,
      note: 'fewer than two handovers on a side (1 and 1)',
    });
  });

  it("keeps a run's rows inside its window (duration + drain) and its decisions as decisions.csv has them", () => {
    const state = openState(':memory:');
    const t0 = 1_000_000;
    const id = state.experiments.start({
      name: 'r',
      planner: 'orchestrated',
      service: 'simple',
      startedMs: t0,
      outDir: null,
      config: null,
    });
    const row = {
      experimentId: id,
      bs: 'ap1',
      host: 'edge1',
      service: 'simple',
      taskId: 1,
      counter: 1,
      bytes: 10,
      e2eMs: 5,
      procMs: 1,
      txMs: 4,
      reconnects: 0,
      ok: true,
      error: null,
    };
    state.tasks.insert([
      { ...row, user: 'mu1', sentMs: t0 + 1000 },
      { ...row, user: 'mu1', sentMs: t0 + 65_000 }, // in the drain
      { ...row, user: 'mu1', sentMs: t0 + 95_000 }, // teardown
    ]);
    state.decisions.insert({
      experimentId: id,
      user: 'mu1',
      planner: 'orchestrated',
      kind: 'coordinated',
      decidedMs: t0 + 10_000,
      plannedHandoverMs: t0 + 20_000,
      actualHandoverMs: t0 + 20_035.5,
      plannedCheckpointMs: t0 + 19_900,
      actualCheckpointMs: t0 + 19_880,
      handoverInside: true,
      preBytes: 5_000_000,
      preTransferMs: 500,
      linkBps: 100e6,
      status: 'done',
    });
    state.decisions.insert({
      experimentId: id,
      user: 'mu1',
      planner: 'orchestrated',
      kind: 'coordinated',
      decidedMs: t0 + 90_000,
      status: 'dropped',
    });
    const run = { ...meta('orchestrated'), startedEpochMs: t0, experimentId: id };
    expect(runRows(state, run, 60).tasks.map((t) => t['t_ms'])).toEqual([1000]);
    const drained = runRows(state, { ...run, windowS: 80 }, 60);
    expect(drained.tasks.map((t) => t['t_ms'])).toEqual([1000, 65_000]);
    expect(drained.decisions).toHaveLength(1);
    expect(drained.decisions[0]).toMatchObject({
      run: 'orchestrated-simple-1',
      kind: 'coordinated',
      decided_t_ms: 10_000,
      planned_handover_t_ms: 20_000,
      actual_handover_t_ms: 20_035.5,
      handover_late_ms: 35.5,
      checkpoint_late_ms: -20,
      handover_inside: true,
      pre_mbps: 80, // 5 MB in 0.5 s = 10 MB/s = 80 Mbit/s
      link_mbps: 100,
      reaction_ms: null,
      migration: null,
    });
    expect(runRows(state, run).decisions).toHaveLength(2);
    state.close();
  });
});
