/**
 * The results of an experiment: its rows read back from the state database (every task, gap, handover and
 * migration carries the experiment id of the run it belongs to), the CSV files and summary.json of the
 * results directory (format.ts), and the summary's statistics, pure.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import type { DecisionRecord, StateDb } from '../state/index.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { comparePlanners, type RunSample } from './compare.js';
import {
  CHECKPOINT_COLUMNS,
  DECISION_COLUMNS,
  type ExperimentMeta,
  type ExperimentSummary,
  HANDOVER_COLUMNS,
  type Interval,
  MIGRATION_COLUMNS,
  OUTAGE_COLUMNS,
  type PlannerSummary,
  RESULTS_VERSION,
  type RunMeta,
  type Stat,
  TASK_COLUMNS,
} from './format.js';
import { handoverEpisodes, mean, studentTQuantile, unionLength, variance } from './stats.js';

type Row = Record<string, string | number | boolean | null | undefined>;

/** The rows of one run, as the CSV files hold them. */
export interface RunRows {
  tasks: Row[];
  migrations: Row[];
  handovers: Row[];
  outages: Row[];
  checkpoints: Row[];
  decisions: Row[];
}

/**
 * Reads one run's rows from the state database: those that started within the run's window (from its
 * start for `run.windowS`, its duration plus the drain, else for `durationS`); what happened while it was
 * torn down is not part of it. Decisions count by the instant they were taken.
 */
export function runRows(state: StateDb, run: RunMeta, durationS?: number): RunRows {
  const rows = allRunRows(state, run);
  const windowS = run.windowS ?? durationS;
  if (windowS === undefined) return rows;
  const within = (t: unknown) => typeof t !== 'number' || (t >= 0 && t <= windowS * 1000);
  const inside = (r: Row) => within(r['t_ms']);
  const migrations = new Set(rows.migrations.filter(inside).map((m) => m['migration']));
  return {
    tasks: rows.tasks.filter(inside),
    migrations: rows.migrations.filter((m) => migrations.has(m['migration'])),
    handovers: rows.handovers.filter(inside),
    outages: rows.outages.filter(inside),
    checkpoints: rows.checkpoints.filter((c) => migrations.has(c['migration'])),
    decisions: rows.decisions.filter((d) => within(d['decided_t_ms'])),
  };
}

/** One decision as decisions.csv holds it: instants from the run's start `t0`, lateness, throughputs. */
export function decisionRow(d: DecisionRecord, t0: number): Row {
  const rel = (v: number | null) => (v === null ? null : Math.round((v - t0) * 10) / 10);
  const late = (actual: number | null, planned: number | null) =>
    actual === null || planned === null ? null : Math.round((actual - planned) * 10) / 10;
  // bytes * 8 / ms / 1000 = Mbit/s
  const preMbps =
    d.preBytes === null || d.preTransferMs === null || d.preTransferMs <= 0
      ? null
      : round((d.preBytes * 8) / d.preTransferMs / 1000);
  return {
    user: d.user,
    kind: d.kind,
    status: d.status,
    error: d.error,
    from_bs: d.fromBs,
    to_bs: d.toBs,
    from_host: d.fromHost,
    to_host: d.toHost,
    decided_t_ms: rel(d.decidedMs),
    predicted_ho_t_ms: rel(d.predictedHoMs),
    planned_pre_t_ms: rel(d.plannedPreMs),
    planned_checkpoint_t_ms: rel(d.plannedCheckpointMs),
    planned_handover_t_ms: rel(d.plannedHandoverMs),
    actual_pre_t_ms: rel(d.actualPreMs),
    actual_checkpoint_t_ms: rel(d.actualCheckpointMs),
    actual_handover_t_ms: rel(d.actualHandoverMs),
    outage_start_t_ms: rel(d.outageStartMs),
    outage_end_t_ms: rel(d.outageEndMs),
    handover_late_ms: late(d.actualHandoverMs, d.plannedHandoverMs),
    checkpoint_late_ms: late(d.actualCheckpointMs, d.plannedCheckpointMs),
    est_pre_ms: d.estPreMs,
    est_mig_ms: d.estMigMs,
    est_ho_ms: d.estHoMs,
    meas_pre_ms: d.measPreMs,
    meas_mig_ms: d.measMigMs,
    meas_ho_ms: d.measHoMs,
    handover_inside: d.handoverInside,
    reaction_ms: d.reactionMs,
    pre_bytes: d.preBytes,
    pre_transfer_ms: d.preTransferMs,
    pre_mbps: preMbps,
    link_mbps: d.linkBps === null ? null : round(d.linkBps / 1e6),
    migration: d.migrationId,
  };
}

function allRunRows(state: StateDb, run: RunMeta): RunRows {
  const id = run.experimentId;
  const t0 = run.startedEpochMs;
  const base = { run: run.run, planner: run.planner, repeat: run.repeat, service: run.service };
  const rel = (v: number | null) => (v === null ? null : Math.round((v - t0) * 10) / 10);
  const q = <T>(sql: string): T[] => state.db.prepare(sql).all(id) as T[];
  const tasks = q<{
    user: string;
    sent_ms: number;
    bs: string | null;
    host: string | null;
    counter: number | null;
    bytes: number;
    e2e_ms: number | null;
    proc_ms: number | null;
    tx_ms: number | null;
    ok: number;
    reconnects: number;
    error: string | null;
  }>('SELECT * FROM tasks WHERE experiment_id = ? ORDER BY sent_ms, id').map((t) => ({
    ...base,
    user: t.user,
    t_ms: rel(t.sent_ms),
    sent_epoch_ms: Math.round(t.sent_ms),
    bs: t.bs,
    host: t.host,
    counter: t.counter,
    bytes: t.bytes,
    e2e_ms: t.e2e_ms,
    proc_ms: t.proc_ms,
    tx_ms: t.tx_ms,
    ok: t.ok === 1,
    reconnects: t.reconnects,
    error: t.error,
  }));
  const migrations = q<{
    id: number;
    user: string;
    from_host: string;
    to_host: string;
    strategy: string;
    codec: string | null;
    started_ms: number;
    downtime_ms: number | null;
    total_ms: number | null;
    bytes: number | null;
    ok: number | null;
    rolled_back: number;
    name: string | null;
    start_ms: number | null;
    duration_ms: number | null;
    phase_bytes: number | null;
  }>(
    `SELECT m.*, p.name, p.start_ms, p.duration_ms, p.bytes AS phase_bytes FROM migrations m
     LEFT JOIN migration_phases p ON p.migration_id = m.id WHERE m.experiment_id = ? ORDER BY m.id, p.seq`,
  ).map((m) => ({
    ...base,
    user: m.user,
    migration: m.id,
    from: m.from_host,
    to: m.to_host,
    strategy: m.strategy,
    codec: m.codec,
    t_ms: rel(m.started_ms),
    downtime_ms: m.downtime_ms,
    total_ms: m.total_ms,
    bytes: m.bytes,
    ok: m.ok === 1,
    rolled_back: m.rolled_back === 1,
    phase: m.name,
    phase_start_ms: m.start_ms,
    phase_duration_ms: m.duration_ms,
    phase_bytes: m.phase_bytes,
  }));
  const handovers = q<{
    user: string;
    at_ms: number;
    from_bs: string | null;
    to_bs: string;
    duration_ms: number | null;
    link_down_ms: number | null;
    trigger: string | null;
  }>('SELECT * FROM handovers WHERE experiment_id = ? ORDER BY at_ms, id').map((h) => ({
    ...base,
    user: h.user,
    t_ms: rel(h.at_ms),
    from_bs: h.from_bs,
    to_bs: h.to_bs,
    duration_ms: h.duration_ms,
    link_down_ms: h.link_down_ms,
    trigger: h.trigger,
  }));
  const outages = q<{
    user: string;
    start_ms: number;
    end_ms: number | null;
    cause: string;
    detail: string | null;
  }>('SELECT * FROM gaps WHERE experiment_id = ? ORDER BY start_ms, id').map((g) => ({
    ...base,
    user: g.user,
    t_ms: rel(g.start_ms),
    end_t_ms: rel(g.end_ms),
    duration_ms: g.end_ms === null ? null : Math.round((g.end_ms - g.start_ms) * 10) / 10,
    cause: g.cause,
    detail: g.detail,
  }));
  const checkpoints = q<{
    migration_id: number;
    user: string;
    host: string;
    kind: string;
    bytes: number;
    ms: number;
  }>(
    `SELECT c.* FROM checkpoints c JOIN migrations m ON m.id = c.migration_id
     WHERE m.experiment_id = ? ORDER BY c.at_ms, c.id`,
  ).map((c) => ({
    ...base,
    user: c.user,
    migration: c.migration_id,
    host: c.host,
    kind: c.kind,
    bytes: c.bytes,
    ms: Math.round(c.ms * 10) / 10,
  }));
  const decisions = state.decisions.forExperiment(id).map((d) => ({ ...base, ...decisionRow(d, t0) }));
  return { tasks, migrations, handovers, outages, checkpoints, decisions };
}

export function toCsv(rows: readonly Row[], columns: readonly string[]): string {
  return stringify(
    rows.map((r) => columns.map((c) => r[c] ?? '')),
    { header: true, columns: [...columns], cast: { boolean: (v) => (v ? 'true' : 'false') } },
  );
}

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

/**
 * Writes the CSV files, summary.json and meta.json (in that order: meta.json, which lists the runs, comes last),
 * each replaced whole; returns the paths written, meta.json first.
 */
export async function writeResults(
  dir: string,
  meta: ExperimentMeta,
  runs: readonly { meta: RunMeta; rows: RunRows }[],
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const all = (pick: (r: RunRows) => Row[]) => runs.flatMap((r) => pick(r.rows));
  const tables: [string, string][] = [
    [
      'tasks.csv',
      toCsv(
        all((r) => r.tasks),
        TASK_COLUMNS,
      ),
    ],
    [
      'migrations.csv',
      toCsv(
        all((r) => r.migrations),
        MIGRATION_COLUMNS,
      ),
    ],
    [
      'handovers.csv',
      toCsv(
        all((r) => r.handovers),
        HANDOVER_COLUMNS,
      ),
    ],
    [
      'outages.csv',
      toCsv(
        all((r) => r.outages),
        OUTAGE_COLUMNS,
      ),
    ],
    [
      'checkpoints.csv',
      toCsv(
        all((r) => r.checkpoints),
        CHECKPOINT_COLUMNS,
      ),
    ],
    [
      'decisions.csv',
      toCsv(
        all((r) => r.decisions),
        DECISION_COLUMNS,
      ),
    ],
  ];
  for (const [name, text] of tables) await writeFileAtomic(join(dir, name), text);
  const summary = summarise(runs, meta.complete);
  await writeFileAtomic(join(dir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  await writeFileAtomic(join(dir, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
  return ['meta.json', 'summary.json', ...tables.map(([name]) => name)].map((name) => join(dir, name));
}
