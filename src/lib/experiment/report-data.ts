/**
 * A results directory read back for the report (format.ts): meta.json and summary.json checked by a schema
 * that names the file and the path of what is wrong, and the CSV files as typed rows, every cell parsed by
 * its type in the data dictionary (dictionary.ts; a cell that is not is an error naming file, line and
 * column). Each CSV is read as NAME.csv or NAME.csv.gz. An empty CSV (a run without migrations) is no rows.
 * A file every results directory has had (tasks, migrations, handovers, outages, checkpoints) missing is an
 * error: the report must not draw empty figures over a damaged directory. Files added later (decisions,
 * migration_phases, positions, rssi, host_stats, links) missing are null or no rows: older results lack
 * them. An older migrations.csv (a row per phase) is collapsed to a row per migration and its phases.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { z } from 'zod';
import { errorMessage, UsageError } from '../errors.js';
import { type ColumnSpec, type ColumnType, table } from './dictionary.js';
import {
  type ExperimentMeta,
  type ExperimentSummary,
  LEGACY_MIGRATION_PHASE_COLUMNS,
  RESULTS_VERSION,
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

/** One base station's RSSI in one report of a user's agent (rssi.csv). */
export interface RssiRow {
  run: string;
  planner: string;
  repeat: number;
  service: string;
  user: string;
  tMs: number;
  bs: string;
  rssiDbm: number;
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
  /** Every base station's RSSI per report; null (or absent) when the results have no rssi.csv. */
  rssi?: RssiRow[] | null;
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

/** A cell as its column's type makes it; null for an empty cell. */
export type Cell = string | number | boolean | null;
/** One CSV record by column name, every cell typed. */
export type CsvRecord = Record<string, Cell>;

const INTEGER = /^[+-]?\d+$/;
/** Decimal notation, as the writer and pandas or R write numbers (not hex, not Infinity). */
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const TRUE = new Set(['true', 'True', 'TRUE', '1']);
const FALSE = new Set(['false', 'False', 'FALSE', '0']);

/** A cell's text as its declared type; undefined when it is not one. */
export function parseCell(type: ColumnType, text: string): Cell | undefined {
  if (text === '') return null;
  switch (type) {
    case 'string':
      return text;
    case 'integer':
      return INTEGER.test(text.trim()) ? Number(text) : undefined;
    case 'number':
      return NUMBER.test(text.trim()) ? Number(text) : undefined;
    case 'boolean':
      return TRUE.has(text) ? true : FALSE.has(text) ? false : undefined;
  }
}

/** A results CSV found in a directory: NAME.csv, else NAME.csv.gz (gunzipped). */
async function findCsv(dir: string, name: string): Promise<{ file: string; text: string } | null> {
  const plain = join(dir, `${name}.csv`);
  const text = await readFile(plain, 'utf8').catch(() => null);
  if (text !== null) return { file: plain, text };
  const gz = `${plain}.gz`;
  const bytes = await readFile(gz).catch(() => null);
  if (bytes === null) return null;
  try {
    return { file: gz, text: gunzipSync(bytes).toString('utf8') };
  } catch (err) {
    throw new UsageError(`${gz}: not a readable gzip file (${errorMessage(err)})`);
  }
}

/** The column names of a CSV text's first line; none for an empty text. */
function headerOf(text: string): string[] {
  if (text.trim() === '') return [];
  return (parse(text, { to_line: 1, bom: true }) as string[][])[0] ?? [];
}

/**
 * A CSV text's records, every cell parsed by `columns` (those not in the header: null, and a warning unless
 * the column came later than the file); columns the dictionary does not know are left out.
 */
export function parseTable(
  file: string,
  text: string,
  columns: readonly ColumnSpec[],
  warnings: string[],
): CsvRecord[] {
  if (text.trim() === '') return [];
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(text, { columns: true, skip_empty_lines: true, bom: true, info: true }) as typeof records;
  } catch (err) {
    throw new UsageError(`${file}: not a readable CSV file (${errorMessage(err)})`);
  }
  const header = headerOf(text);
  const absent = columns.filter((c) => !header.includes(c.name));
  const missingRequired = absent.filter((c) => c.required);
  if (missingRequired.length > 0)
    throw new UsageError(`${file} has no column ${missingRequired.map((c) => c.name).join(', ')}`, {
      hint: 'a results file is written by edgectl experiment run (format: docs/reference/results.md)',
    });
  const silent = absent.filter((c) => !c.later);
  if (silent.length > 0)
    warnings.push(`${file} has no column ${silent.map((c) => c.name).join(', ')}: read as empty cells`);
  const present = columns.filter((c) => header.includes(c.name));
  return records.map(({ record, info }) => {
    const out: CsvRecord = {};
    for (const c of absent) out[c.name] = null;
    for (const c of present) {
      const text = record[c.name] ?? '';
      const v = parseCell(c.type, text);
      if (v === undefined)
        throw new UsageError(
          `${file}:${info.lines}: column ${c.name}: ${JSON.stringify(text)} is not ${c.type === 'integer' ? 'an' : 'a'} ${c.type}`,
        );
      if (v === null && c.required)
        throw new UsageError(`${file}:${info.lines}: column ${c.name} is empty, and it is never empty`);
      out[c.name] = v;
    }
    return out;
  });
}

/** Reads table `name` of the dictionary; null when the directory has no such file. */
async function readTable(dir: string, name: string, warnings: string[]): Promise<CsvRecord[] | null> {
  const found = await findCsv(dir, name);
  return found ? parseTable(found.file, found.text, table(name).columns, warnings) : null;
}

/** A file every results directory has is missing: the directory is damaged, not older. */
function missingFile(dir: string, name: string): UsageError {
  return new UsageError(
    `${dir} has no ${name}.csv (nor ${name}.csv.gz): the results directory is incomplete`,
    {
      hint: 'edgectl experiment export ID writes the whole directory again from the state database',
    },
  );
}

/** Reads a table every results directory has: missing, the directory is damaged. */
async function readRequired(dir: string, name: string, warnings: string[]): Promise<CsvRecord[]> {
  const t = await readTable(dir, name, warnings);
  if (!t) throw missingFile(dir, name);
  return t;
}

const strOf = (r: CsvRecord, c: string): string => (r[c] === null || r[c] === undefined ? '' : String(r[c]));
const strOrNull = (r: CsvRecord, c: string): string | null =>
  r[c] === null || r[c] === undefined ? null : String(r[c]);
const numOf = (r: CsvRecord, c: string): number | null =>
  typeof r[c] === 'number' ? (r[c] as number) : null;
const boolOf = (r: CsvRecord, c: string): boolean | null =>
  typeof r[c] === 'boolean' ? (r[c] as boolean) : null;
/** The columns of a run that every row has. */
const runOf = (r: CsvRecord) => ({
  run: strOf(r, 'run'),
  planner: strOf(r, 'planner'),
  repeat: numOf(r, 'repeat') ?? 1,
  service: strOf(r, 'service'),
});

/** The four phase columns of an older migrations.csv, typed. */
const LEGACY_PHASE_SPECS: ColumnSpec[] = LEGACY_MIGRATION_PHASE_COLUMNS.map((name) => ({
  name,
  type: name === 'phase' ? 'string' : name === 'phase_bytes' ? 'integer' : 'number',
  description: '',
}));

function migrationRow(r: CsvRecord): MigrationRow {
  return {
    ...runOf(r),
    user: strOf(r, 'user'),
    migration: strOf(r, 'migration'),
    from: strOf(r, 'from'),
    to: strOf(r, 'to'),
    strategy: strOf(r, 'strategy'),
    codec: strOrNull(r, 'codec'),
    tMs: numOf(r, 't_ms') ?? 0,
    downtimeMs: numOf(r, 'downtime_ms'),
    totalMs: numOf(r, 'total_ms'),
    bytes: numOf(r, 'bytes'),
    ok: boolOf(r, 'ok'),
    rolledBack: boolOf(r, 'rolled_back') === true,
    error: strOrNull(r, 'error'),
  };
}

/**
 * migrations.csv and its phases: one row per migration and migration_phases.csv; or an older migrations.csv
 * (each migration repeated on each of its phase rows, with the phase columns) collapsed to one row per
 * migration, its phase rows becoming the phases.
 */
async function readMigrations(
  dir: string,
  warnings: string[],
): Promise<{ migrations: MigrationRow[]; phases: MigrationPhaseRow[] }> {
  const found = await findCsv(dir, 'migrations');
  if (!found) throw missingFile(dir, 'migrations');
  const header = headerOf(found.text);
  if (header.includes('phase')) {
    const rows = parseTable(
      found.file,
      found.text,
      [...table('migrations').columns, ...LEGACY_PHASE_SPECS],
      warnings,
    );
    const migrations = new Map<string, MigrationRow>();
    const seqs = new Map<string, number>();
    const phases: MigrationPhaseRow[] = [];
    for (const r of rows) {
      const m = migrationRow(r);
      const key = `${m.run}\u0000${m.migration}`;
      if (!migrations.has(key)) migrations.set(key, m);
      const phase = strOrNull(r, 'phase');
      if (phase === null) continue;
      const seq = seqs.get(key) ?? 0;
      seqs.set(key, seq + 1);
      phases.push({
        run: m.run,
        planner: m.planner,
        repeat: m.repeat,
        service: m.service,
        user: m.user,
        migration: m.migration,
        seq,
        phase,
        startMs: numOf(r, 'phase_start_ms') ?? 0,
        durationMs: numOf(r, 'phase_duration_ms') ?? 0,
        bytes: numOf(r, 'phase_bytes'),
      });
    }
    return { migrations: [...migrations.values()], phases };
  }
  const migrations = parseTable(found.file, found.text, table('migrations').columns, warnings).map(
    migrationRow,
  );
  const phaseRows = await readTable(dir, 'migration_phases', warnings);
  if (!phaseRows && migrations.length > 0)
    throw new UsageError(
      `${dir} has no migration_phases.csv (nor .csv.gz), and its migrations.csv (one row per migration) needs it`,
      { hint: 'edgectl experiment export ID writes the whole directory again from the state database' },
    );
  const phases = (phaseRows ?? []).map(
    (r): MigrationPhaseRow => ({
      ...runOf(r),
      user: strOf(r, 'user'),
      migration: strOf(r, 'migration'),
      seq: numOf(r, 'seq') ?? 0,
      phase: strOf(r, 'phase'),
      startMs: numOf(r, 'start_ms') ?? 0,
      durationMs: numOf(r, 'duration_ms') ?? 0,
      bytes: numOf(r, 'bytes'),
    }),
  );
  return { migrations, phases };
}

/**
 * Reads a results directory. Throws a UsageError (exit 2) for a directory that does not exist or is not a
 * results directory (no meta.json or summary.json), for a required CSV file that is missing, and for a cell
 * that is not of its column's type, naming what is wrong.
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

  const tasks = (await readRequired(dir, 'tasks', warnings)).map(
    (r): TaskRow => ({
      ...runOf(r),
      user: strOf(r, 'user'),
      tMs: numOf(r, 't_ms') ?? 0,
      bs: strOrNull(r, 'bs'),
      host: strOrNull(r, 'host'),
      e2eMs: numOf(r, 'e2e_ms'),
      procMs: numOf(r, 'proc_ms'),
      txMs: numOf(r, 'tx_ms'),
      ok: boolOf(r, 'ok') === true,
    }),
  );
  const { migrations, phases: migrationPhases } = await readMigrations(dir, warnings);
  const handovers = (await readRequired(dir, 'handovers', warnings)).map(
    (r): HandoverRow => ({
      run: strOf(r, 'run'),
      planner: strOf(r, 'planner'),
      service: strOf(r, 'service'),
      user: strOf(r, 'user'),
      tMs: numOf(r, 't_ms') ?? 0,
      fromBs: strOrNull(r, 'from_bs'),
      toBs: strOf(r, 'to_bs'),
      durationMs: numOf(r, 'duration_ms'),
    }),
  );
  const outages = (await readRequired(dir, 'outages', warnings)).map(
    (r): OutageRow => ({
      run: strOf(r, 'run'),
      planner: strOf(r, 'planner'),
      service: strOf(r, 'service'),
      user: strOf(r, 'user'),
      tMs: numOf(r, 't_ms') ?? 0,
      endTMs: numOf(r, 'end_t_ms'),
      durationMs: numOf(r, 'duration_ms'),
      cause: strOf(r, 'cause') || 'unknown',
    }),
  );
  const checkpoints = (await readRequired(dir, 'checkpoints', warnings)).map(
    (r): CheckpointRow => ({
      run: strOf(r, 'run'),
      planner: strOf(r, 'planner'),
      service: strOf(r, 'service'),
      migration: strOf(r, 'migration'),
      kind: strOf(r, 'kind'),
      bytes: numOf(r, 'bytes'),
    }),
  );
  const decisions =
    (await readTable(dir, 'decisions', warnings))?.map(
      (r): DecisionRow => ({
        run: strOf(r, 'run'),
        planner: strOf(r, 'planner'),
        service: strOf(r, 'service'),
        user: strOf(r, 'user'),
        kind: strOf(r, 'kind'),
        status: strOf(r, 'status'),
        error: strOrNull(r, 'error'),
        decidedTMs: numOf(r, 'decided_t_ms'),
        plannedHandoverTMs: numOf(r, 'planned_handover_t_ms'),
        actualHandoverTMs: numOf(r, 'actual_handover_t_ms'),
        handoverLateMs: numOf(r, 'handover_late_ms'),
        checkpointLateMs: numOf(r, 'checkpoint_late_ms'),
        estPreMs: numOf(r, 'est_pre_ms'),
        estMigMs: numOf(r, 'est_mig_ms'),
        estHoMs: numOf(r, 'est_ho_ms'),
        measPreMs: numOf(r, 'meas_pre_ms'),
        measMigMs: numOf(r, 'meas_mig_ms'),
        measHoMs: numOf(r, 'meas_ho_ms'),
        handoverInside: boolOf(r, 'handover_inside'),
        reactionMs: numOf(r, 'reaction_ms'),
        preBytes: numOf(r, 'pre_bytes'),
        preTransferMs: numOf(r, 'pre_transfer_ms'),
        preMbps: numOf(r, 'pre_mbps'),
        linkMbps: numOf(r, 'link_mbps'),
      }),
    ) ?? null;
  const positions =
    (await readTable(dir, 'positions', warnings))?.map(
      (r): PositionRow => ({
        ...runOf(r),
        user: strOf(r, 'user'),
        tMs: numOf(r, 't_ms') ?? 0,
        xM: numOf(r, 'x_m') ?? 0,
        yM: numOf(r, 'y_m') ?? 0,
        bs: strOrNull(r, 'bs'),
        rssiDbm: numOf(r, 'rssi_dbm'),
        rateMbps: numOf(r, 'rate_mbps'),
      }),
    ) ?? null;
  const rssi =
    (await readTable(dir, 'rssi', warnings))?.map(
      (r): RssiRow => ({
        ...runOf(r),
        user: strOf(r, 'user'),
        tMs: numOf(r, 't_ms') ?? 0,
        bs: strOf(r, 'bs'),
        rssiDbm: numOf(r, 'rssi_dbm') ?? 0,
      }),
    ) ?? null;
  const hostStats =
    (await readTable(dir, 'host_stats', warnings))?.map(
      (r): HostStatRow => ({
        ...runOf(r),
        tMs: numOf(r, 't_ms') ?? 0,
        host: strOf(r, 'host'),
        container: strOrNull(r, 'container'),
        cpuPct: numOf(r, 'cpu_pct'),
        memBytes: numOf(r, 'mem_bytes'),
        memLimitBytes: numOf(r, 'mem_limit_bytes'),
        load1: numOf(r, 'load1'),
        cpus: numOf(r, 'cpus'),
      }),
    ) ?? null;
  const links =
    (await readTable(dir, 'links', warnings))?.map(
      (r): LinkRow => ({
        ...runOf(r),
        tMs: numOf(r, 't_ms') ?? 0,
        from: strOf(r, 'from'),
        to: strOf(r, 'to'),
        rttMs: numOf(r, 'rtt_ms'),
        bandwidthMbps: numOf(r, 'bandwidth_mbps'),
        method: strOf(r, 'method'),
      }),
    ) ?? null;
  return {
    dir,
    meta,
    summary,
    tasks,
    handovers,
    outages,
    checkpoints,
    migrations,
    migrationPhases,
    positions,
    hostStats,
    links,
    rssi,
    decisions,
    warnings,
  };
}
