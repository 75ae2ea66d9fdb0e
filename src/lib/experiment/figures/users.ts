/**
 * The figures of many users at once: each user's downtime and mean E2E delay per planner (summary.json
 * planners[].users), and each server's reserved load over a run against its capacity (capacity.csv). Drawn
 * only when a run had more than one user. Pure.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { PlannerSummary, RunMeta } from '../format.js';
import { paperOrder } from '../planner-order.js';
import type { CapacityCsvRow } from '../report-data.js';
import { baseConfig, plannerScale, round, SCHEMA } from './common.js';

export interface UserBar {
  planner: string;
  service: string;
  user: string;
  metric: 'Downtime per run (ms)' | 'Mean E2E delay (ms)';
  value: number;
}

/** Each user's downtime per run and mean E2E per planner; empty when no planner had more than one user. */
export function perUserBars(planners: readonly PlannerSummary[]): UserBar[] {
  return planners.flatMap((p) =>
    (p.users?.length ?? 0) > 1
      ? (p.users ?? []).flatMap((u) => [
          ...(u.downtimeMs.mean === null
            ? []
            : [
                {
                  planner: p.planner,
                  service: p.service,
                  user: u.user,
                  metric: 'Downtime per run (ms)' as const,
                  value: round(u.downtimeMs.mean),
                },
              ]),
          ...(u.e2eMs.mean === null
            ? []
            : [
                {
                  planner: p.planner,
                  service: p.service,
                  user: u.user,
                  metric: 'Mean E2E delay (ms)' as const,
                  value: round(u.e2eMs.mean),
                },
              ]),
        ])
      : [],
  );
}

export function perUserCaption(bars: readonly UserBar[]): string {
  const users = new Set(bars.map((b) => b.user)).size;
  return `Per user: each of the ${users} users' downtime per run (mean over repetitions) and mean E2E delay over its answered tasks, one bar per planner (summary.json planners[].users).`;
}

export function perUserSpec(bars: readonly UserBar[]): TopLevelSpec {
  const planners = paperOrder(bars.map((b) => b.planner));
  const users = [...new Set(bars.map((b) => b.user))];
  return {
    $schema: SCHEMA,
    config: baseConfig,
    data: { values: bars.map((b) => ({ ...b })) },
    facet: {
      row: {
        field: 'metric',
        type: 'nominal',
        title: null,
        sort: ['Downtime per run (ms)', 'Mean E2E delay (ms)'],
      },
    },
    resolve: { scale: { y: 'independent' } },
    spec: {
      width: Math.max(240, 40 * users.length * Math.max(1, planners.length / 2)),
      height: 160,
      mark: { type: 'bar' },
      encoding: {
        x: { field: 'user', type: 'nominal', sort: users, title: 'User', axis: { labelAngle: 0 } },
        xOffset: { field: 'planner', type: 'nominal', sort: planners },
        y: { field: 'value', type: 'quantitative', title: null },
        color: {
          field: 'planner',
          type: 'nominal',
          scale: plannerScale(planners),
          sort: planners,
          title: 'Planner',
        },
        tooltip: [
          { field: 'user', type: 'nominal' },
          { field: 'service', type: 'nominal' },
          { field: 'planner', type: 'nominal' },
          { field: 'value', type: 'quantitative', format: '.1f' },
        ],
      },
    },
  } as TopLevelSpec;
}

export interface CapacityPoint {
  run: string;
  host: string;
  tS: number;
  cpus: number;
  capCpus: number;
}

/**
 * Each server's reserved CPUs over each run's window as steps (a point at every change, and one at the end
 * so that the last step shows); the first repetition of each planner and service.
 */
export function capacitySeries(rows: readonly CapacityCsvRow[], runs: readonly RunMeta[]): CapacityPoint[] {
  const firsts = runs.filter(
    (r) => !runs.some((x) => x.planner === r.planner && x.service === r.service && x.repeat < r.repeat),
  );
  return firsts.flatMap((run) => {
    const mine = rows.filter((r) => r.run === run.run);
    if (mine.length === 0) return [];
    const endMs = Math.max(
      run.windowS !== undefined ? run.windowS * 1000 : run.endedEpochMs - run.startedEpochMs,
      ...mine.map((r) => r.tMs),
    );
    const points: CapacityPoint[] = mine.map((r) => ({
      run: run.run,
      host: r.host,
      tS: round(r.tMs / 1000, 3),
      cpus: r.cpus,
      capCpus: r.capCpus,
    }));
    for (const host of new Set(mine.map((r) => r.host))) {
      const last = mine.filter((r) => r.host === host).at(-1);
      if (last)
        points.push({
          run: run.run,
          host,
          tS: round(endMs / 1000, 3),
          cpus: last.cpus,
          capCpus: last.capCpus,
        });
    }
    return points;
  });
}

export function capacityCaption(points: readonly CapacityPoint[]): string {
  const runs = [...new Set(points.map((p) => p.run))];
  return `Server load: the CPUs the users' services reserve on each server over the run (capacity.csv), a step at every deploy, final checkpoint and restore; the dashed line is the server's capacity (runs: ${runs.join(', ')}).`;
}

export function capacitySpec(points: readonly CapacityPoint[]): TopLevelSpec {
  const runs = [...new Set(points.map((p) => p.run))];
  return {
    $schema: SCHEMA,
    config: baseConfig,
    data: { values: points.map((p) => ({ ...p })) },
    facet: {
      row: { field: 'run', type: 'nominal', sort: runs, title: null },
      column: { field: 'host', type: 'nominal', title: null },
    },
    spec: {
      width: 180,
      height: 120,
      layer: [
        {
          mark: { type: 'line', interpolate: 'step-after', color: '#1f77b4' },
          encoding: {
            x: { field: 'tS', type: 'quantitative', title: 'Time (s)' },
            y: { field: 'cpus', type: 'quantitative', title: 'CPUs reserved' },
            tooltip: [
              { field: 'host', type: 'nominal' },
              { field: 'tS', type: 'quantitative', title: 't (s)' },
              { field: 'cpus', type: 'quantitative' },
              { field: 'capCpus', type: 'quantitative', title: 'capacity' },
            ],
          },
        },
        {
          mark: { type: 'rule', strokeDash: [4, 3], color: '#d62728' },
          encoding: { y: { aggregate: 'max', field: 'capCpus', type: 'quantitative' } },
        },
      ],
    },
  } as TopLevelSpec;
}
