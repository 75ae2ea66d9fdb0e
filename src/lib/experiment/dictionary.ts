/**
 * The data dictionary of a results directory: every CSV file, its columns, their types, units, meaning and
 * the decimals they are rounded to. The single source for the writer (results.ts rounds by it and writes it
 * as datapackage.json), the reader (report-data.ts parses every cell by its declared type) and the reference
 * page docs/reference/results.md (scripts/results-reference.mjs). format.ts's column lists must equal the
 * names here: a unit test compares them.
 *
 * Decimals are what was measured, not more: durations taken with performance.now() (the migration's phases,
 * the E2E delay, the handover's blackout) keep microseconds (3); instants from the run's start keep 0.1 ms,
 * as they always have; ping prints its round trips to the microsecond; /proc/loadavg has two decimals; the
 * host's CPU share comes from jiffies (10 ms) over a 500 ms sample, so a tenth of a percent is already finer
 * than it.
 */

export type ColumnType = 'string' | 'integer' | 'number' | 'boolean';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  /** ms, bytes, m, dBm, Mbit/s, %, ...; absent for a name, a count or a flag. */
  unit?: string;
  description: string;
  /** The decimals a number is rounded to when written (integers: 0). */
  decimals?: number;
  /** Never empty. */
  required?: true;
  /** Absent from the files edgectl wrote before it was added: read as empty, no warning. */
  later?: true;
}

export interface TableSpec {
  /** The file is NAME.csv (or NAME.csv.gz). */
  name: string;
  title: string;
  /** What one row is. */
  row: string;
  /**
   * In every results directory since the first version: missing, the directory is damaged. Those without it
   * were added later, and older results lack them.
   */
  required: boolean;
  columns: readonly ColumnSpec[];
}

const col = (
  name: string,
  type: ColumnType,
  description: string,
  more: Partial<Omit<ColumnSpec, 'name' | 'type' | 'description'>> = {},
): ColumnSpec => ({
  name,
  type,
  description,
  ...(type === 'integer' ? { decimals: 0 } : {}),
  ...more,
});
const ms = (name: string, description: string, decimals = 3, more: Partial<ColumnSpec> = {}) =>
  col(name, 'number', description, { unit: 'ms', decimals, ...more });
/** An instant from the start of the run the row belongs to. */
const tMs = (name: string, description: string, more: Partial<ColumnSpec> = {}) =>
  ms(name, `${description} (from the run's start)`, 1, more);
const bytes = (name: string, description: string, more: Partial<ColumnSpec> = {}) =>
  col(name, 'integer', description, { unit: 'bytes', ...more });

/** The columns that say which run a row belongs to, first in every file. */
const RUN = [
  col('run', 'string', 'the run: PLANNER-SERVICE-REPEAT (meta.json runs[].run)', { required: true }),
  col('planner', 'string', 'the planner of the run: cloud, random, nearest, orchestrated', {
    required: true,
  }),
  col('repeat', 'integer', 'the repetition, from 1', { required: true }),
  col('service', 'string', 'the offloaded service of the run', { required: true }),
] as const;
const USER = col('user', 'string', 'the mobile user', { required: true });
const MIGRATION_ID = col('migration', 'integer', "the migration's id (migrations.csv)", { required: true });

export const TABLES: readonly TableSpec[] = [
  {
    name: 'tasks',
    title: 'Offloaded tasks',
    row: 'offloaded task',
    required: true,
    columns: [
      ...RUN,
      USER,
      tMs('t_ms', 'when the task was sent', { required: true }),
      col('sent_epoch_ms', 'integer', 'when the task was sent (epoch, the controller clock)', { unit: 'ms' }),
      col('bs', 'string', 'the base station the user was attached to'),
      col('host', 'string', "the server the user's service ran on"),
      col(
        'counter',
        'integer',
        "the service's counter in the answer: up by one per task while state survives",
      ),
      bytes('bytes', "the task's payload (a frame's size when the user sends frames)", { later: true }),
      ms(
        'e2e_ms',
        'end-to-end delay at the user: first sending the task to its answer, reconnects and retries included',
      ),
      ms('proc_ms', 'processing time at the server: whole frame received to answer ready'),
      ms('tx_ms', 'transmission and propagation: e2e_ms - proc_ms (at least 0)'),
      col('ok', 'boolean', 'the task was answered', { required: true }),
      col('reconnects', 'integer', 'times the user connected again while sending this task'),
      col('error', 'string', 'why the task failed'),
    ],
  },
  {
    name: 'migrations',
    title: 'Migrations',
    row: 'migration',
    required: true,
    columns: [
      ...RUN,
      USER,
      MIGRATION_ID,
      col('from', 'string', 'the server the service left'),
      col('to', 'string', 'the server the service moved to'),
      col('strategy', 'string', 'delta (pre-checkpoint, then a delta) or full'),
      col('codec', 'string', 'how the delta was encoded and sent'),
      tMs('t_ms', 'when the migration started', { required: true }),
      ms('downtime_ms', "the service's outage as the probe saw it: last answer before to first answer after"),
      ms('total_ms', 'the whole migration, first phase to last'),
      bytes('bytes', 'bytes sent between the servers'),
      col('ok', 'boolean', 'the migration ended on the target; empty: it had not ended when the run stopped'),
      col('rolled_back', 'boolean', 'a failed migration was undone: the service runs on the source again'),
      col('error', 'string', 'why the migration failed', { later: true }),
    ],
  },
  {
    name: 'migration_phases',
    title: 'Migration phases',
    row: 'phase of a migration',
    required: false,
    columns: [
      ...RUN,
      USER,
      MIGRATION_ID,
      col('seq', 'integer', 'the phase\u2019s place in the migration, from 0', { required: true }),
      col('phase', 'string', 'the phase: pre-checkpoint, pre-transfer, checkpoint, transfer, restore, ...', {
        required: true,
      }),
      ms('start_ms', "when the phase started, from the migration's start (migrations.csv t_ms)", 3, {
        required: true,
      }),
      ms('duration_ms', 'how long the phase took', 3, { required: true }),
      bytes('bytes', 'bytes the phase wrote or sent'),
    ],
  },
  {
    name: 'handovers',
    title: 'Handovers',
    row: 'handover',
    required: true,
    columns: [
      ...RUN,
      USER,
      tMs('t_ms', 'when the radio link went down', { required: true }),
      col('from_bs', 'string', 'the base station the user left'),
      col('to_bs', 'string', 'the base station the user joined', { required: true }),
      ms(
        'duration_ms',
        'the gap in service the user saw: last answer before it to the first request answered after it',
      ),
      ms('link_down_ms', 'the radio blackout as applied: link down to path switched'),
      col(
        'trigger',
        'string',
        "what started it: rssi (the agent's hysteresis rule), command (the controller), cli",
      ),
    ],
  },
  {
    name: 'outages',
    title: 'Outages',
    row: 'gap in service the user saw',
    required: true,
    columns: [
      ...RUN,
      USER,
      tMs('t_ms', 'when the outage began', { required: true }),
      tMs('end_t_ms', 'when it ended; empty: it had not ended when the run stopped'),
      ms('duration_ms', 'end_t_ms - t_ms', 1),
      col('cause', 'string', 'why: handover, migration or service', { required: true }),
      col('detail', 'string', 'what moved (ap1 -> ap2, edge1 -> edge2) or what failed'),
    ],
  },
  {
    name: 'checkpoints',
    title: 'Checkpoints',
    row: 'checkpoint a migration took',
    required: true,
    columns: [
      ...RUN,
      USER,
      MIGRATION_ID,
      col('host', 'string', 'the server the checkpoint was taken on', { required: true }),
      col('kind', 'string', 'pre (the pre-checkpoint), final (the last, full one), delta (final less pre)', {
        required: true,
      }),
      bytes('bytes', "the checkpoint's size", { required: true }),
      ms('ms', 'how long taking it took', 1, { required: true }),
    ],
  },
  {
    name: 'decisions',
    title: 'Decisions',
    row: "decision the run's controller acted on",
    required: false,
    columns: [
      ...RUN,
      USER,
      col('kind', 'string', 'coordinated (planned ahead of the handover) or reactive (after it)', {
        required: true,
      }),
      col(
        'status',
        'string',
        'planned, done, failed, dropped, or rejected (an outside planner’s failed round: nothing moved)',
        { required: true },
      ),
      col('error', 'string', 'why it failed, was dropped or rejected'),
      col('from_bs', 'string', 'the base station the user left'),
      col('to_bs', 'string', 'the base station the user was to join'),
      col('from_host', 'string', 'the server the service left'),
      col('to_host', 'string', 'the server the service was to move to'),
      tMs('decided_t_ms', 'when the controller decided', { required: true }),
      tMs('predicted_ho_t_ms', 'the handover instant the plan was made for (coordinated)'),
      tMs('planned_pre_t_ms', 'the planned start of the pre-checkpoint'),
      tMs('planned_checkpoint_t_ms', 'the planned start of the final checkpoint'),
      tMs('planned_handover_t_ms', 'the planned handover'),
      tMs('actual_pre_t_ms', 'when the pre-checkpoint started'),
      tMs('actual_checkpoint_t_ms', "when the final checkpoint started (the migration's outage begins)"),
      tMs('actual_handover_t_ms', 'when the radio link went down'),
      tMs('outage_start_t_ms', "the migration's outage (probe): start"),
      tMs('outage_end_t_ms', "the migration's outage (probe): end"),
      ms('handover_late_ms', 'actual_handover_t_ms - planned_handover_t_ms', 1),
      ms('checkpoint_late_ms', 'actual_checkpoint_t_ms - planned_checkpoint_t_ms', 1),
      ms('est_pre_ms', "the planner's estimate of pre-checkpoint + pre-transfer", 1),
      ms('est_mig_ms', "the planner's estimate of the migration's outage", 1),
      ms('est_ho_ms', "the planner's estimate of the handover's radio outage", 1),
      ms('meas_pre_ms', 'measured: pre-checkpoint + pre-transfer'),
      ms('meas_mig_ms', "measured: the migration's outage as the probe saw it"),
      ms('meas_ho_ms', "measured: the handover's radio outage, link down to link up"),
      col(
        'handover_inside',
        'boolean',
        "the handover's radio outage lay inside the migration's outage (within 50 ms at either end: the probe's resolution)",
      ),
      ms('reaction_ms', "reactive: the handover (link down) to the final checkpoint's start"),
      bytes('pre_bytes', 'bytes the pre-transfer sent'),
      ms('pre_transfer_ms', "the pre-transfer's send (its bytes on the wire, the channel already open)"),
      col('pre_mbps', 'number', "the pre-transfer's throughput (10^6 bit/s)", {
        unit: 'Mbit/s',
        decimals: 3,
      }),
      col('link_mbps', 'number', "the link's bandwidth (10^6 bit/s)", { unit: 'Mbit/s', decimals: 3 }),
      col('migration', 'integer', "the migration's id (migrations.csv); empty when none ran"),
    ],
  },
  {
    name: 'positions',
    title: 'User positions',
    row: "report of a user's agent",
    required: false,
    columns: [
      ...RUN,
      USER,
      tMs('t_ms', 'when the agent reported', { required: true }),
      col('x_m', 'number', "the user's position: x", { unit: 'm', decimals: 3, required: true }),
      col('y_m', 'number', "the user's position: y", { unit: 'm', decimals: 3, required: true }),
      col('bs', 'string', 'the base station the user was attached to'),
      col('rssi_dbm', 'number', "that base station's RSSI (path-loss model)", { unit: 'dBm', decimals: 3 }),
      col('rate_mbps', 'number', 'the radio rate that RSSI gives (802.11n table; 10^6 bit/s)', {
        unit: 'Mbit/s',
        decimals: 3,
      }),
    ],
  },
  {
    name: 'rssi',
    title: 'RSSI per base station',
    row: "base station in a report of a user's agent",
    required: false,
    columns: [
      ...RUN,
      USER,
      tMs('t_ms', 'when the agent reported', { required: true }),
      col('bs', 'string', 'the base station', { required: true }),
      col('rssi_dbm', 'number', "the user's RSSI to it (path-loss model)", {
        unit: 'dBm',
        decimals: 3,
        required: true,
      }),
    ],
  },
  {
    name: 'host_stats',
    title: 'Host and container statistics',
    row: 'sample of a host or of a container on it',
    required: false,
    columns: [
      ...RUN,
      tMs('t_ms', 'when it was sampled', { required: true }),
      col('host', 'string', 'the host', { required: true }),
      col('container', 'string', "the container; empty: the host's own numbers"),
      col('cpu_pct', 'number', 'CPU busy: the host, 100 = every core busy; a container, percent of one CPU', {
        unit: '%',
        decimals: 1,
      }),
      bytes(
        'mem_bytes',
        'memory in use (host: MemTotal - MemAvailable; container: usage less reclaimable cache)',
      ),
      bytes('mem_limit_bytes', "the host's MemTotal, or the container's limit"),
      col('load1', 'number', "the host's 1-minute load average (empty for a container)", { decimals: 2 }),
      col('cpus', 'integer', 'CPUs the host has (empty for a container)'),
    ],
  },
  {
    name: 'links',
    title: 'Link measurements',
    row: 'measurement of a link between two hosts',
    required: false,
    columns: [
      ...RUN,
      tMs('t_ms', 'when it was measured', { required: true }),
      col('from', 'string', 'the host it was measured from', { required: true }),
      col('to', 'string', 'the host it was measured to', { required: true }),
      ms('rtt_ms', "the median round trip of the probe's echoes; empty: none answered"),
      col('bandwidth_mbps', 'number', "the link's bandwidth as hosts.yml gives it (10^6 bit/s)", {
        unit: 'Mbit/s',
        decimals: 3,
      }),
      col('method', 'string', 'how it was measured', { required: true }),
    ],
  },
  {
    name: 'capacity',
    title: 'Server load against capacity',
    row: "change of a server's load (and every server at the run's start)",
    required: false,
    columns: [
      ...RUN,
      tMs('t_ms', 'when the load changed (0: the initial placement)', { required: true }),
      col('host', 'string', 'the server', { required: true }),
      col('users', 'integer', "the users' containers it held from then on", { required: true }),
      col('cpus', 'number', "the CPUs their services' limits reserve (hosts.yml services[].limits)", {
        decimals: 3,
        required: true,
      }),
      col('mem_mb', 'number', "the memory their services' limits reserve", {
        unit: 'MB',
        decimals: 0,
        required: true,
      }),
      col('cap_cpus', 'number', "the server's capacity (hosts.yml hosts[].capacity.cpus)", {
        decimals: 3,
        required: true,
      }),
      col('cap_mem_mb', 'number', "the server's memory capacity (hosts.yml hosts[].capacity.memMB)", {
        unit: 'MB',
        decimals: 0,
        required: true,
      }),
    ],
  },
];

/** The table of that name; throws for a name not in the dictionary (a bug, not a user's mistake). */
export function table(name: string): TableSpec {
  const t = TABLES.find((x) => x.name === name);
  if (!t) throw new Error(`no table ${name} in the data dictionary`);
  return t;
}

/** The JSON files beside the CSV files. */
export const JSON_FILES = [
  {
    name: 'meta',
    path: 'meta.json',
    description: 'the experiment: inventory, versions, links, runs, caveats, provenance',
  },
  {
    name: 'summary',
    path: 'summary.json',
    description: 'per planner and service: the statistics and comparisons',
  },
] as const;

/** A number rounded to its column's decimals; anything else as it is. */
export function roundCell(spec: ColumnSpec, v: unknown): unknown {
  if (typeof v !== 'number' || !Number.isFinite(v) || spec.decimals === undefined) return v;
  const f = 10 ** spec.decimals;
  const r = Math.round(v * f) / f;
  return Object.is(r, -0) ? 0 : r;
}

/** Rows with every number rounded to its column's decimals (columns not in the table kept as they are). */
export function roundRows<R extends Record<string, unknown>>(name: string, rows: readonly R[]): R[] {
  const specs = table(name).columns.filter((c) => c.decimals !== undefined);
  return rows.map((r) => {
    const out: Record<string, unknown> = { ...r };
    for (const c of specs) if (c.name in out) out[c.name] = roundCell(c, out[c.name]);
    return out as R;
  });
}
