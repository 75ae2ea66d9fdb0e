/**
 * summary.json from a run's rows (format.ts ExperimentSummary), pure: per planner and service the tasks'
 * statistics, the downtime per run and per handover with their intervals, the migrations, the counter's
 * continuity, and every pair of planners compared.
 */
import { comparePlanners, type RunSample } from './compare.js';
import {
  type ExperimentSummary,
  type Interval,
  type PlannerSummary,
  RESULTS_VERSION,
  type RunMeta,
  type Stat,
  type UserSummary,
} from './format.js';
import type { Row, RunRows } from './results-rows.js';
import { handoverEpisodes, mean, studentTQuantile, unionLength, variance } from './stats.js';

export function stat(values: readonly number[]): Stat {
  const m = mean(values);
  if (m === null) return { mean: null, std: null, n: 0 };
  return { mean: round(m), std: round(Math.sqrt(variance(values) ?? 0)), n: values.length };
}

/** The mean and the half-width of its two-sided 95% interval (Student's t, n - 1 degrees of freedom). */
export function interval(values: readonly number[]): Interval {
  const s = stat(values);
  if (s.mean === null || s.n < 2 || s.std === null) return { mean: s.mean, ci95: null, n: s.n };
  const t = studentTQuantile(0.975, s.n - 1);
  return { mean: s.mean, ci95: round((t * s.std) / Math.sqrt(s.n)), n: s.n };
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** Counter resets in a run: an answered task whose counter is below the one before it (state lost). */
export function counterResets(tasks: readonly Row[]): number {
  let last: number | undefined;
  let resets = 0;
  const byUser = new Map<string, number | undefined>();
  for (const t of tasks) {
    if (t['ok'] !== true || typeof t['counter'] !== 'number') continue;
    const user = String(t['user']);
    last = byUser.get(user);
    if (last !== undefined && t['counter'] <= last) resets++;
    byUser.set(user, t['counter']);
  }
  return resets;
}

/**
 * The time a run's users spent without service (ms): the union of their outages, per user, summed over
 * users. Outages that overlap (a coordinated handover inside a migration's downtime) count once.
 */
export function downtimeOf(outages: readonly Row[]): number {
  const byUser = new Map<string, [number, number][]>();
  for (const o of outages) {
    const a = o['t_ms'];
    const b = o['end_t_ms'];
    if (typeof a !== 'number' || typeof b !== 'number' || b <= a) continue;
    const user = String(o['user']);
    byUser.set(user, [...(byUser.get(user) ?? []), [a, b]]);
  }
  let total = 0;
  for (const spans of byUser.values()) total += unionLength(spans);
  return round(total);
}

/** What one run contributes to the comparisons: its total downtime, mean E2E and handover episodes. */
export function runSample(meta: RunMeta, rows: RunRows): RunSample {
  const num = (v: unknown) => (typeof v === 'number' ? v : null);
  const answered = rows.tasks.flatMap((t) => {
    const atMs = num(t['t_ms']);
    const e2eMs = num(t['e2e_ms']);
    return t['ok'] === true && atMs !== null && e2eMs !== null
      ? [{ user: String(t['user']), atMs, e2eMs }]
      : [];
  });
  const episodes = handoverEpisodes({
    handovers: rows.handovers.flatMap((h) => {
      const atMs = num(h['t_ms']);
      return atMs === null ? [] : [{ user: String(h['user']), atMs }];
    }),
    outages: rows.outages.flatMap((o) => {
      const startMs = num(o['t_ms']);
      return startMs === null ? [] : [{ user: String(o['user']), startMs, endMs: num(o['end_t_ms']) }];
    }),
    tasks: answered,
  });
  return {
    planner: meta.planner,
    service: meta.service,
    downtimeMs: downtimeOf(rows.outages),
    meanE2eMs: stat(answered.map((t) => t.e2eMs)).mean,
    episodes,
  };
}

/**
 * Per user of a planner's runs (`users`), only when they had more than one: a one-user summary stays as it
 * was. The users come from the runs' meta (their own services), else from the rows.
 */
function userSummaries(
  runs: readonly { meta: RunMeta; rows: RunRows }[],
  samples: readonly RunSample[],
): { users?: UserSummary[] } {
  const names = new Map<string, string>();
  for (const r of runs) {
    for (const u of r.meta.users ?? []) names.set(u.user, u.service);
    for (const t of r.rows.tasks)
      if (!names.has(String(t['user']))) names.set(String(t['user']), r.meta.service);
  }
  if (names.size <= 1) return {};
  const nums = (rows: readonly Row[], col: string) =>
    rows.map((r) => r[col]).filter((v): v is number => typeof v === 'number');
  const users = [...names].map(([user, service]): UserSummary => {
    const of = (rows: readonly Row[]) => rows.filter((x) => x['user'] === user);
    const tasks = runs.flatMap((r) => of(r.rows.tasks));
    const ok = tasks.filter((t) => t['ok'] === true && typeof t['e2e_ms'] === 'number');
    return {
      user,
      service,
      tasks: tasks.length,
      failedTasks: tasks.length - ok.length,
      e2eMs: stat(nums(ok, 'e2e_ms')),
      downtimeMs: interval(runs.map((r) => downtimeOf(of(r.rows.outages)))),
      downtimePerHandoverMs: interval(
        samples.flatMap((x) => x.episodes.filter((e) => e.user === user).map((e) => round(e.downtimeMs))),
      ),
      migrations: runs.reduce(
        (a, r) =>
          a +
          new Set(
            of(r.rows.migrations)
              .filter((m) => m['ok'] === true)
              .map((m) => m['migration']),
          ).size,
        0,
      ),
      handovers: runs.reduce((a, r) => a + of(r.rows.handovers).length, 0),
    };
  });
  return { users };
}

/** summary.json from every run's rows (pure). */
export function summarise(
  runs: readonly { meta: RunMeta; rows: RunRows }[],
  complete: boolean,
): ExperimentSummary {
  const keys = [...new Set(runs.map((r) => `${r.meta.planner}\u0000${r.meta.service}`))];
  const samples = runs.map((r) => runSample(r.meta, r.rows));
  const planners: PlannerSummary[] = keys.map((key) => {
    const [planner = '', service = ''] = key.split('\u0000');
    const mine = runs.filter((r) => r.meta.planner === planner && r.meta.service === service);
    const tasks = mine.flatMap((r) => r.rows.tasks);
    const ok = tasks.filter((t) => t['ok'] === true && typeof t['e2e_ms'] === 'number');
    const nums = (rows: readonly Row[], col: string) =>
      rows.map((r) => r[col]).filter((v): v is number => typeof v === 'number');
    const downtimes = mine.map((r) => downtimeOf(r.rows.outages));
    const meanE2es = mine
      .map(
        (r) =>
          stat(
            nums(
              r.rows.tasks.filter((t) => t['ok'] === true),
              'e2e_ms',
            ),
          ).mean,
      )
      .filter((v): v is number => v !== null);
    // Distinct ids: one row per migration in migrations.csv, but rows of older results repeated it per phase.
    const migrationIds = (r: RunRows, okOnly: boolean) =>
      new Set(r.migrations.filter((m) => !okOnly || m['ok'] === true).map((m) => m['migration'])).size;
    const resets = mine.reduce((a, r) => a + counterResets(r.rows.tasks), 0);
    return {
      planner,
      service,
      repeats: mine.length,
      tasks: tasks.length,
      failedTasks: tasks.length - ok.length,
      e2eMs: stat(nums(ok, 'e2e_ms')),
      procMs: stat(nums(ok, 'proc_ms')),
      txMs: stat(nums(ok, 'tx_ms')),
      downtimeMs: interval(downtimes),
      meanE2eMs: interval(meanE2es),
      migrations: mine.reduce((a, r) => a + migrationIds(r.rows, true), 0),
      failedMigrations: mine.reduce(
        (a, r) => a + migrationIds(r.rows, false) - migrationIds(r.rows, true),
        0,
      ),
      downtimePerHandoverMs: interval(
        samples
          .filter((x) => x.planner === planner && x.service === service)
          .flatMap((x) => x.episodes.map((e) => round(e.downtimeMs))),
      ),
      handovers: mine.reduce((a, r) => a + r.rows.handovers.length, 0),
      counterContinuous: resets === 0,
      counterResets: resets,
      ratioToOrchestrated: { e2e: null, downtime: null },
      ...userSummaries(
        mine,
        samples.filter((x) => x.planner === planner && x.service === service),
      ),
    };
  });
  for (const p of planners) {
    const o = planners.find((x) => x.planner === 'orchestrated' && x.service === p.service);
    const ratio = (a: number | null, b: number | null | undefined) =>
      a === null || b === null || b === undefined || b === 0 ? null : round(a / b);
    p.ratioToOrchestrated = {
      e2e: ratio(p.e2eMs.mean, o?.e2eMs.mean),
      downtime: ratio(p.downtimeMs.mean, o?.downtimeMs.mean),
    };
  }
  const comparisons = comparePlanners(samples);
  return { version: RESULTS_VERSION, complete, planners, comparisons };
}
