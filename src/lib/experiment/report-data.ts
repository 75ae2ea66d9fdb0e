/**
 * A results directory read back for the report (format.ts): meta.json and summary.json checked by a schema
 * (results-json.ts), and the CSV files as typed rows, every cell parsed by its type in the data dictionary
 * (results-csv.ts; a cell that is not is an error naming file, line and column). Each CSV is read as NAME.csv or NAME.csv.gz. An empty CSV (a run without migrations) is no rows.
 * A file every results directory has had (tasks, migrations, handovers, outages, checkpoints) missing is an
 * error: the report must not draw empty figures over a damaged directory. Files added later (decisions,
 * migration_phases, positions, rssi, host_stats, links) missing are null or no rows: older results lack
 * them. An older migrations.csv (a row per phase) is collapsed to a row per migration and its phases.
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { ServerLoad } from './capacity.js';
import { type ColumnSpec, table } from './dictionary.js';
import { type ExperimentMeta, type ExperimentSummary, LEGACY_MIGRATION_PHASE_COLUMNS } from './format.js';
import {
  type CsvRecord,
  findCsv,
  headerOf,
  missingFile,
  parseTable,
  readRequired,
  readTable,
} from './results-csv.js';
import { metaSchema, readJson, summarySchema } from './results-json.js';

export { type Cell, type CsvRecord, parseCell, parseTable } from './results-csv.js';
export { runMetaSchema } from './results-json.js';

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

/** One row of capacity.csv: a server's load from `tMs` on (capacity.ts). */
export interface CapacityCsvRow extends ServerLoad {
  run: string;
  planner: string;
  repeat: number;
  service: string;
  tMs: number;
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
  /** null (or absent): the results have no capacity.csv (written before it was). */
  capacity?: CapacityCsvRow[] | null;
  /** Every base station's RSSI per report; null (or absent) when the results have no rssi.csv. */
  rssi?: RssiRow[] | null;
  /** null: the results have no decisions.csv (written before decisions were recorded). */
  decisions: DecisionRow[] | null;
  /** What was missing or odd but did not stop the report. */
  warnings: string[];
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
  const capacity =
    (await readTable(dir, 'capacity', warnings))?.map(
      (r): CapacityCsvRow => ({
        ...runOf(r),
        tMs: numOf(r, 't_ms') ?? 0,
        host: strOf(r, 'host'),
        users: numOf(r, 'users') ?? 0,
        cpus: numOf(r, 'cpus') ?? 0,
        memMB: numOf(r, 'mem_mb') ?? 0,
        capCpus: numOf(r, 'cap_cpus') ?? 0,
        capMemMB: numOf(r, 'cap_mem_mb') ?? 0,
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
    capacity,
    rssi,
    decisions,
    warnings,
  };
}
