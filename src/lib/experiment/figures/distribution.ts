/** The E2E delay's empirical CDF per planner (and per service): the whole distribution, not its mean. Pure. */
import type { TopLevelSpec } from 'vega-lite';
import type { RunMeta } from '../format.js';
import { paperOrder } from '../planner-order.js';
import type { TaskRow } from '../report-data.js';
import { byServiceThenPlanner, orderServices, perService, plannerScale, round } from './common.js';

/** One step of an ECDF: the share `p` of tasks whose E2E is at most `e2eMs`. */
export interface EcdfPoint {
  service: string;
  planner: string;
  e2eMs: number;
  p: number;
}

export interface EcdfCurve {
  service: string;
  planner: string;
  /** Answered tasks the curve is drawn from. */
  n: number;
  points: EcdfPoint[];
}

/**
 * The ECDF of the answered tasks' E2E (> 0, for the log axis) per service and planner. Beyond `maxPoints`
 * tasks a curve keeps evenly spaced ranks (its first and last kept): the drawn steps stay on the exact ECDF.
 */
export function e2eEcdf(
  tasks: readonly TaskRow[],
  maxPoints = 400,
  runs: readonly RunMeta[] = [],
): EcdfCurve[] {
  const groups = new Map<string, { service: string; planner: string; values: number[] }>();
  for (const t of tasks) {
    if (!t.ok || t.e2eMs === null || !(t.e2eMs > 0)) continue;
    const key = `${t.service}\u0000${t.planner}`;
    const g = groups.get(key) ?? { service: t.service, planner: t.planner, values: [] };
    g.values.push(t.e2eMs);
    groups.set(key, g);
  }
  const services = orderServices(
    [...groups.values()].map((g) => g.service),
    runs,
  );
  const planners = paperOrder([...groups.values()].map((g) => g.planner));
  return [...groups.values()].sort(byServiceThenPlanner(services, planners)).map((g) => {
    const sorted = g.values.sort((a, b) => a - b);
    const n = sorted.length;
    const ranks =
      n <= maxPoints
        ? sorted.map((_, i) => i)
        : [
            ...new Set(
              Array.from({ length: maxPoints }, (_, k) => Math.round((k * (n - 1)) / (maxPoints - 1))),
            ),
          ];
    return {
      service: g.service,
      planner: g.planner,
      n,
      points: ranks.map((i) => ({
        service: g.service,
        planner: g.planner,
        e2eMs: round(sorted[i] ?? 0, 3),
        p: round((i + 1) / n, 5),
      })),
    };
  });
}

export function ecdfCaption(curves: readonly EcdfCurve[]): string {
  const counts = curves.map(
    (c) =>
      `${c.planner}${new Set(curves.map((x) => x.service)).size > 1 ? ` on ${c.service}` : ''} n = ${c.n}`,
  );
  return (
    'E2E delay ECDF: the share of answered tasks whose E2E delay was at most x, per planner (all runs and ' +
    `repetitions; ${counts.join(', ')})${new Set(curves.map((c) => c.service)).size > 1 ? ', one panel per service' : ''}. x is logarithmic, so milliseconds and ` +
    'hundreds of milliseconds are both readable; failed tasks are not counted.'
  );
}

/** ECDF lines per planner (paper's order), log x, one panel per service when several. */
export function ecdfSpec(curves: readonly EcdfCurve[]): TopLevelSpec {
  // The curves come in the order of the runs (e2eEcdf): keep it.
  const services = [...new Set(curves.map((c) => c.service))];
  const planners = paperOrder(curves.map((c) => c.planner));
  const colour = plannerScale(planners);
  const layer = {
    mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.6 },
    encoding: {
      x: { field: 'e2eMs', type: 'quantitative', title: 'E2E delay (ms, log scale)', scale: { type: 'log' } },
      y: { field: 'p', type: 'quantitative', title: 'Share of tasks', scale: { domain: [0, 1] } },
      color: { field: 'planner', type: 'nominal', scale: colour, title: 'Planner', sort: planners },
      tooltip: [
        { field: 'planner', type: 'nominal' },
        { field: 'e2eMs', type: 'quantitative', title: 'E2E (ms)', format: '.1f' },
        { field: 'p', type: 'quantitative', title: 'share', format: '.3f' },
      ],
    },
  };
  const values = curves.flatMap((c) => c.points);
  const title = { text: 'E2E delay ECDF per planner', subtitle: 'Answered tasks, all runs and repetitions' };
  return perService({
    services,
    title,
    values,
    view: layer,
    single: { width: 480, height: 260 },
    panel: { width: 320, height: 240 },
    facet: 'column',
    independent: 'x',
  });
}
