/**
 * The verdict's comparisons (summary.json `comparisons`), pure: every pair of planners of one service, in
 * total downtime and in mean E2E, from per-run samples. Over repetitions (Welch) when both planners ran at
 * least twice; else over handover episodes (percentile bootstrap), where a run's total downtime becomes the
 * mean downtime per handover. Used by the runner's summary and by the report for results written before
 * summary.json carried comparisons.
 */
import type { Comparison } from './format.js';
import {
  type BootstrapOptions,
  bootstrapInterval,
  type DiffInterval,
  type HandoverEpisode,
  mean,
  welchInterval,
} from './stats.js';

/** The paper's planners, in the order every figure and table shows them (and a comparison pairs them). */
export const PLANNER_ORDER = ['orchestrated', 'nearest', 'random', 'cloud'] as const;

/** The planners in display order: the paper's first, then any other by name. */
export function orderPlanners(planners: Iterable<string>): string[] {
  const set = new Set(planners);
  const known: string[] = PLANNER_ORDER.filter((p) => set.has(p));
  const other = [...set].filter((p) => !known.includes(p)).sort();
  return [...known, ...other];
}

/** What one run contributes to the comparisons. */
export interface RunSample {
  planner: string;
  service: string;
  /** The union of the run's outages (downtimeOf). */
  downtimeMs: number;
  /** The mean E2E of its answered tasks; null without any. */
  meanE2eMs: number | null;
  episodes: readonly HandoverEpisode[];
}

const round = (v: number, digits = 3) => Math.round(v * 10 ** digits) / 10 ** digits;
const nums = (values: readonly (number | null)[]) => values.filter((v): v is number => v !== null);

/**
 * The difference a - b in one metric: over runs (Welch) when both sides have at least two, else over their
 * handover episodes (bootstrap). Also used by `experiment compare` (compare-dirs.ts), across directories.
 */
export function compareOne(
  a: readonly RunSample[],
  b: readonly RunSample[],
  metric: Comparison['metric'],
  options: BootstrapOptions,
): Omit<Comparison, 'a' | 'b' | 'service'> {
  const byRuns = a.length >= 2 && b.length >= 2;
  const values = (runs: readonly RunSample[]): number[] =>
    byRuns
      ? nums(runs.map((r) => (metric === 'downtimeMs' ? r.downtimeMs : r.meanE2eMs)))
      : nums(
          runs.flatMap((r) => r.episodes.map((e) => (metric === 'downtimeMs' ? e.downtimeMs : e.meanE2eMs))),
        );
  const va = values(a);
  const vb = values(b);
  const method: Comparison['method'] = byRuns ? 'repetitions' : 'bootstrap-handovers';
  const r: DiffInterval | null = byRuns ? welchInterval(va, vb) : bootstrapInterval(va, vb, options);
  const rounded = (v: number | null) => (v === null ? null : round(v));
  const meanA = rounded(mean(va));
  const meanB = rounded(mean(vb));
  const diff = meanA === null || meanB === null ? null : round(meanA - meanB);
  const unit = byRuns ? 'runs' : 'handovers';
  const what = metric === 'meanE2eMs' ? ` with answered tasks` : '';
  const base = {
    metric,
    method,
    meanA,
    meanB,
    diff,
    n: [va.length, vb.length] as [number, number],
    relative: diff === null || meanB === null || meanB === 0 ? null : round(diff / meanB, 4),
  };
  if (r === null)
    return {
      ...base,
      lo: null,
      hi: null,
      includesZero: null,
      note: `fewer than two ${unit}${what} on a side (${va.length} and ${vb.length})`,
    };
  const lo = round(r.lo);
  const hi = round(r.hi);
  const rel = (v: number | undefined, d: number) =>
    v !== undefined ? round(v, 4) : meanB === null || meanB === 0 ? null : round(d / meanB, 4);
  return {
    ...base,
    lo,
    hi,
    includesZero: lo <= 0 && hi >= 0,
    relativeLo: rel(r.relLo, r.lo),
    relativeHi: rel(r.relHi, r.hi),
  };
}

/**
 * Every pair of planners of the same service (a before b in PLANNER_ORDER, so orchestrated is always a),
 * in downtimeMs then meanE2eMs.
 */
export function comparePlanners(samples: readonly RunSample[], options: BootstrapOptions = {}): Comparison[] {
  const out: Comparison[] = [];
  const services = [...new Set(samples.map((s) => s.service))];
  for (const service of services) {
    const mine = samples.filter((s) => s.service === service);
    const planners = orderPlanners(mine.map((s) => s.planner));
    for (const [i, a] of planners.entries())
      for (const b of planners.slice(i + 1))
        for (const metric of ['downtimeMs', 'meanE2eMs'] as const)
          out.push({
            a,
            b,
            service,
            ...compareOne(
              mine.filter((s) => s.planner === a),
              mine.filter((s) => s.planner === b),
              metric,
              options,
            ),
          });
  }
  return out;
}
