import { describe, expect, it } from 'vitest';
import type { RunMeta } from '../../src/lib/experiment/format.js';
import {
  counterResets,
  downtimeOf,
  interval,
  stat,
  summarise,
  toCsv,
} from '../../src/lib/experiment/results.js';

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
  });

  it('summarises per planner with ratios to orchestrated', () => {
    const empty = { migrations: [], handovers: [], checkpoints: [] };
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
});
