/**
 * A results directory read back for the report (format.ts): meta.json and summary.json checked by a schema
 * that names the file and the path of what is wrong, and the CSV files as typed rows. An empty CSV (a run
 * without migrations) is no rows; a missing CSV is no rows and a warning, except decisions.csv, which
 * older results do not have (decisions: null, no warning).
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { errorMessage, UsageError } from '../errors.js';
import {
  CHECKPOINT_COLUMNS,
  DECISION_COLUMNS,
  type ExperimentMeta,
  type ExperimentSummary,
  HANDOVER_COLUMNS,
  OUTAGE_COLUMNS,
  RESULTS_VERSION,
  TASK_COLUMNS,
} from './format.js';

export interface TaskRow {
  run: string;
  planner: string;
  repeat: number;
  service: string;
  user: string;
  tMs: number;
  /** The base station and the server that answered (or were tried); null when not recorded. */
  bs: string | null;
  host: string | null;
  e2eMs: number | null;
  procMs: number | null;
  txMs: number | null;
  ok: boolean;
}

/** One row of migrations.csv (one per migration; older results' phase rows collapsed). */
export interface MigrationRow {
  run: string;
  planner: string;
  repeat: number;
  service: string;
  user: string;
  /** The migration's id (checkpoints.csv, decisions.csv and migration_phases.csv `migration`). */
  migration: string;
  from: string;
  to: string;
  strategy: string;
  codec: string | null;
  tMs: number;
  downtimeMs: number | null;
  totalMs: number | null;
  bytes: number | null;
  /** null: the migration had not ended when the run stopped. */
  ok: boolean | null;
  rolledBack: boolean;
  error: string | null;
}

/** One phase of a migration (migration_phases.csv; older results: migrations.csv's phase columns). */
export interface MigrationPhaseRow {
  run: string;
  planner: string;
  repeat: number;
  service: string;
  user: string;
  migration: string;
  seq: number;
  phase: string;
  /** From the migration's start (its row's tMs). */
  startMs: number;
  durationMs: number;
  bytes: number | null;
}

/** One report of a user's agent (positions.csv). */
export interface PositionRow {
  run: string;
  planner: string;
  repeat: number;
  service: string;
  user: string;
  tMs: number;
  xM: number;
  yM: number;
  bs: string | null;
  rssiDbm: number | null;
  rateMbps: number | null;
}

/** One host or container statistic (host_stats.csv); container null: the host's own. */
export interface HostStatRow {
  run: string;
  planner: string;
  repeat: number;
  service: string;
  tMs: number;
  host: string;
  container: string | null;
  cpuPct: number | null;
  memBytes: number | null;
  memLimitBytes: number | null;
  load1: number | null;
  cpus: number | null;
}

/** One link measurement (links.csv). */
export interface LinkRow {
  run: string;
  planner: string;
  repeat: number;
  service: string;
  tMs: number;
  from: string;
  to: string;
  rttMs: number | null;
  bandwidthMbps: number | null;
  method: string;
}

export interface HandoverRow {
  run: string;
  planner: string;
  service: string;
  user: string;
  tMs: number;
  fromBs: string | null;
  toBs: string;
  durationMs: number | null;
}

export interface OutageRow {
  run: string;
  planner: string;
  service: string;
  user: string;
  tMs: number;
  /** null: the outage had not ended when the run stopped. */
  endTMs: number | null;
  durationMs: number | null;
  cause: string;
}

export interface CheckpointRow {
  run: string;
  planner: string;
  service: string;
  migration: string;
  kind: string;
  bytes: number | null;
}

/** One row of decisions.csv (format.ts DECISION_COLUMNS): instants from the run's start, durations in ms. */
export interface DecisionRow {
  run: string;
  planner: string;
  service: string;
  user: string;
  kind: string;
  status: string;
  error: string | null;
  decidedTMs: number | null;
  plannedHandoverTMs: number | null;
  actualHandoverTMs: number | null;
  handoverLateMs: number | null;
  checkpointLateMs: number | null;
  estPreMs: number | null;
  estMigMs: number | null;
  estHoMs: number | null;
  measPreMs: number | null;
  measMigMs: number | null;
  measHoMs: number | null;
  handoverInside: boolean | null;
  reactionMs: number | null;
  preBytes: number | null;
  preTransferMs: number | null;
  /** Mbit/s. */
  preMbps: number | null;
  linkMbps: number | null;
}

export interface ResultsData {
  dir: string;
  meta: ExperimentMeta;
  summary: ExperimentSummary;
  tasks: TaskRow[];
  handovers: HandoverRow[];
  outages: OutageRow[];
  checkpoints: CheckpointRow[];
  migrations: MigrationRow[];
  migrationPhases: MigrationPhaseRow[];
  /** null: the results have no such file (written before it was). */
  positions: PositionRow[] | null;
  hostStats: HostStatRow[] | null;
  links: LinkRow[] | null;
  /** null: the results have no decisions.csv (written before decisions were recorded). */
  decisions: DecisionRow[] | null;
  /** What was missing or odd but did not stop the report. */
  warnings: string[];
}

const num = z.number();
const nullableNum = z.number().nullable();
const hostMap = z.record(z.string(), z.string().nullable());

/** One entry of meta.json `runs` (format.ts RunMeta). */
export const runMetaSchema = z.object({
  run: z.string(),
  planner: z.string(),
  service: z.string(),
  repeat: z.number().int(),
  startedEpochMs: num,
  endedEpochMs: num,
  complete: z.boolean(),
  error: z.string().optional(),
  velocity: num,
  seed: num,
  experimentId: num,
  windowS: num.optional(),
  truncated: z.array(z.string()).optional(),
});

const metaSchema = z.object({
  version: z.literal(RESULTS_VERSION),
  id: z.number().int().optional(),
  finished: z.boolean().optional(),
  plannedRuns: z.array(z.string()).optional(),
  args: z.record(z.string(), z.unknown()).default({}),
  testbed: z.string(),
  inventory: z.unknown(),
  versions: z
    .object({
      edgectl: z.string(),
      node: z.string(),
      docker: hostMap.default({}),
      criu: hostMap.default({}),
      kernel: hostMap.default({}),
    })
    .default({ edgectl: 'unknown', node: 'unknown', docker: {}, criu: {}, kernel: {} }),
  links: z
    .array(
      z.object({
        from: z.string(),
        to: z.string(),
        latencyMs: num,
        emulated: z.boolean().nullable(),
        method: z.string().nullable(),
      }),
    )
    .default([]),
  imageBytes: z.record(z.string(), nullableNum).default({}),
  startedEpochMs: num,
  endedEpochMs: num,
  complete: z.boolean(),
  runs: z.array(runMetaSchema),
  caveats: z.array(z.string()).default([]),
  // Kept as written (absent in older results): experiment compare lists where it differs.
  provenance: z.unknown().optional(),
});

const statSchema = z.object({ mean: nullableNum, std: nullableNum, n: num });
const intervalSchema = z.object({ mean: nullableNum, ci95: nullableNum, n: num });

const comparisonSchema = z.object({
  a: z.string(),
  b: z.string(),
  service: z.string(),
  metric: z.enum(['downtimeMs', 'meanE2eMs']),
  method: z.enum(['repetitions', 'bootstrap-handovers']),
  meanA: nullableNum,
  meanB: nullableNum,
  diff: nullableNum,
  lo: nullableNum,
  hi: nullableNum,
  n: z.tuple([num, num]),
  includesZero: z.boolean().nullable(),
  relative: nullableNum,
  note: z.string().optional(),
});

const summarySchema = z.object({
  version: z.literal(RESULTS_VERSION),
  complete: z.boolean(),
  planners: z.array(
    z.object({
      planner: z.string(),
      service: z.string(),
      repeats: num,
      tasks: num,
      failedTasks: num,
      e2eMs: statSchema,
      procMs: statSchema,
      txMs: statSchema,
      downtimeMs: intervalSchema,
      meanE2eMs: intervalSchema,
      downtimePerHandoverMs: intervalSchema.optional(),
      migrations: num,
      failedMigrations: num,
      handovers: num,
      counterContinuous: z.boolean(),
      counterResets: num,
      ratioToOrchestrated: z.object({ e2e: nullableNum, downtime: nullableNum }),
    }),
  ),
  comparisons: z.array(comparisonSchema).optional(),
});

/** `runs[2].planner` from a zod issue path. */
function pathOf(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

async function readJson<T>(dir: string, name: string, schema: z.ZodType<T>): Promise<T> {
  const file = join(dir, name);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`${file}: not readable JSON (${errorMessage(err)})`, {
      hint: 'a results directory is written by edgectl experiment run',
    });
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${pathOf(i.path) || '(top)'}: ${i.message}`);
    throw new UsageError(`${file} is not what edgectl experiment run writes: ${issues.join('; ')}`, {
      hint: `results format version ${RESULTS_VERSION} (src/lib/experiment/format.ts)`,
    });
  }
  return r.data;
}

type Cells = Record<string, string>;

/**
 * A CSV file's records by column name; [] when it is empty, or missing (with a warning; `optional`: null
 * and no warning).
 */
async function readCsv(
  dir: string,
  name: string,
  columns: readonly string[],
  warnings: string[],
): Promise<Cells[]>;
async function readCsv(
  dir: string,
  name: string,
  columns: readonly string[],
  warnings: string[],
  optional: true,
): Promise<Cells[] | null>;
async function readCsv(
  dir: string,
  name: string,
  columns: readonly string[],
  warnings: string[],
  optional = false,
): Promise<Cells[] | null> {
  let text: string;
  try {
    text = await readFile(join(dir, name), 'utf8');
  } catch {
    if (optional) return null;
    warnings.push(`${name} is missing: read as empty`);
    return [];
  }
  let records: Cells[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, bom: true }) as Cells[];
  } catch (err) {
    throw new UsageError(`${join(dir, name)}: not a readable CSV file (${errorMessage(err)})`);
  }
  const header = text.split(/\r?\n/, 1)[0]?.split(',') ?? [];
  const missing = text.trim() === '' ? [] : columns.filter((c) => !header.includes(c));
  if (missing.length > 0) warnings.push(`${name} has no column ${missing.join(', ')}: read as empty cells`);
  return records;
}

function cellNum(v: string | undefined): number | null {
  if (v === undefined || v.trim() === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function cellStr(v: string | undefined): string | null {
  return v === undefined || v === '' ? null : v;
}

/** tasks.csv's columns the report reads: `bytes` came later, and results written before it lack it. */
const REPORT_TASK_COLUMNS = TASK_COLUMNS.filter((c) => c !== 'bytes');

const isTrue = (v: string | undefined) => v === 'true' || v === '1';

/**
 * Reads a results directory. Throws a UsageError (exit 2) for a directory that does not exist or is not a
 * results directory (no meta.json or summary.json), naming what is missing.
 */
export async function readResults(dirArg: string): Promise<ResultsData> {
  const dir = resolve(dirArg);
  const s = await stat(dir).catch(() => null);
  if (!s)
    throw new UsageError(`no such directory: ${dir}`, {
      hint: 'give the results directory of edgectl experiment run',
    });
  if (!s.isDirectory())
    throw new UsageError(`not a directory: ${dir}`, {
      hint: 'give the results directory of edgectl experiment run',
    });
  const present = await Promise.all(
    ['meta.json', 'summary.json'].map(async (f) => ((await stat(join(dir, f)).catch(() => null)) ? null : f)),
  );
  const absent = present.filter((f): f is string => f !== null);
  if (absent.length > 0)
    throw new UsageError(`${dir} is not a results directory: it has no ${absent.join(' and no ')}`, {
      hint: 'edgectl experiment run writes one (meta.json, summary.json and the CSV files)',
    });
  const meta = (await readJson(dir, 'meta.json', metaSchema)) as ExperimentMeta;
  const summary = (await readJson(dir, 'summary.json', summarySchema)) as ExperimentSummary;
  const warnings: string[] = [];

  const tasks: TaskRow[] = [];
  for (const r of await readCsv(dir, 'tasks.csv', REPORT_TASK_COLUMNS, warnings)) {
    const t = cellNum(r['t_ms']);
    if (t === null) continue;
    tasks.push({
      run: r['run'] ?? '',
      planner: r['planner'] ?? '',
      repeat: cellNum(r['repeat']) ?? 1,
      service: r['service'] ?? '',
      user: r['user'] ?? '',
      tMs: t,
      bs: cellStr(r['bs']),
      host: cellStr(r['host']),
      e2eMs: cellNum(r['e2e_ms']),
      procMs: cellNum(r['proc_ms']),
      txMs: cellNum(r['tx_ms']),
      ok: isTrue(r['ok']),
    });
  }
  const handovers: HandoverRow[] = [];
  for (const r of await readCsv(dir, 'handovers.csv', HANDOVER_COLUMNS, warnings)) {
    const t = cellNum(r['t_ms']);
    if (t === null) continue;
    handovers.push({
      run: r['run'] ?? '',
      planner: r['planner'] ?? '',
      service: r['service'] ?? '',
      user: r['user'] ?? '',
      tMs: t,
      fromBs: cellStr(r['from_bs']),
      toBs: r['to_bs'] ?? '',
      durationMs: cellNum(r['duration_ms']),
    });
  }
  const outages: OutageRow[] = [];
  for (const r of await readCsv(dir, 'outages.csv', OUTAGE_COLUMNS, warnings)) {
    const t = cellNum(r['t_ms']);
    if (t === null) continue;
    outages.push({
      run: r['run'] ?? '',
      planner: r['planner'] ?? '',
      service: r['service'] ?? '',
      user: r['user'] ?? '',
      tMs: t,
      endTMs: cellNum(r['end_t_ms']),
      durationMs: cellNum(r['duration_ms']),
      cause: r['cause'] || 'unknown',
    });
  }
  const checkpoints: CheckpointRow[] = [];
  for (const r of await readCsv(dir, 'checkpoints.csv', CHECKPOINT_COLUMNS, warnings))
    checkpoints.push({
      run: r['run'] ?? '',
      planner: r['planner'] ?? '',
      service: r['service'] ?? '',
      migration: r['migration'] ?? '',
      kind: r['kind'] ?? '',
      bytes: cellNum(r['bytes']),
    });
  const decisionCells = await readCsv(dir, 'decisions.csv', DECISION_COLUMNS, warnings, true);
  const decisions = decisionCells?.map(
    (r): DecisionRow => ({
      run: r['run'] ?? '',
      planner: r['planner'] ?? '',
      service: r['service'] ?? '',
      user: r['user'] ?? '',
      kind: r['kind'] ?? '',
      status: r['status'] ?? '',
      error: cellStr(r['error']),
      decidedTMs: cellNum(r['decided_t_ms']),
      plannedHandoverTMs: cellNum(r['planned_handover_t_ms']),
      actualHandoverTMs: cellNum(r['actual_handover_t_ms']),
      handoverLateMs: cellNum(r['handover_late_ms']),
      checkpointLateMs: cellNum(r['checkpoint_late_ms']),
      estPreMs: cellNum(r['est_pre_ms']),
      estMigMs: cellNum(r['est_mig_ms']),
      estHoMs: cellNum(r['est_ho_ms']),
      measPreMs: cellNum(r['meas_pre_ms']),
      measMigMs: cellNum(r['meas_mig_ms']),
      measHoMs: cellNum(r['meas_ho_ms']),
      handoverInside: cellStr(r['handover_inside']) === null ? null : isTrue(r['handover_inside']),
      reactionMs: cellNum(r['reaction_ms']),
      preBytes: cellNum(r['pre_bytes']),
      preTransferMs: cellNum(r['pre_transfer_ms']),
      preMbps: cellNum(r['pre_mbps']),
      linkMbps: cellNum(r['link_mbps']),
    }),
  );
  return {
    dir,
    meta,
    summary,
    tasks,
    handovers,
    outages,
    checkpoints,
    // TODO(contract): read by the data helper (migrations.csv, migration_phases.csv, positions.csv, ...).
    migrations: [],
    migrationPhases: [],
    positions: null,
    hostStats: null,
    links: null,
    decisions: decisions ?? null,
    warnings,
  };
}
