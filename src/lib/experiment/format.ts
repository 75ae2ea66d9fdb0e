/**
 * The results directory of `edgectl experiment run`, the contract between the runner, the report and the
 * researcher's own scripts (pandas, R, jq). The data dictionary (dictionary.ts) describes every CSV file and
 * column (type, unit, meaning, decimals) and is written into every directory as datapackage.json; the
 * reference page docs/reference/results.md is generated from it. The column lists below are the ones the
 * code names; a unit test fails when they differ from the dictionary. CSV files have a header row,
 * comma-separated, RFC 4180 quoting, empty cells for missing values, and may be gzipped (NAME.csv.gz reads
 * as NAME.csv); times are milliseconds. `t_ms` columns count from the start of the run (one planner, one
 * repetition) they belong to; `*_epoch_ms` columns are wall-clock epoch milliseconds.
 *
 *   meta.json        ExperimentMeta
 *   summary.json     ExperimentSummary
 *   datapackage.json the data dictionary (Frictionless Data Package): every file, column, type and unit
 *   tasks.csv        TASK_COLUMNS: every offloaded task
 *   migrations.csv   MIGRATION_COLUMNS: every migration, one row each
 *   migration_phases.csv  MIGRATION_PHASE_COLUMNS: every phase of every migration (one row per phase)
 *   handovers.csv    HANDOVER_COLUMNS
 *   outages.csv      OUTAGE_COLUMNS: every gap in service the user saw (handover, migration, service)
 *   checkpoints.csv  CHECKPOINT_COLUMNS: every checkpoint a migration took (pre, final, delta), for Table I
 *   decisions.csv    DECISION_COLUMNS: every decision the run's controller acted on (planned and actual
 *                    instants, the planner's estimates and what was measured)
 *   positions.csv    POSITION_COLUMNS: every report of a user's agent (position, base station, its RSSI, rate)
 *   rssi.csv         RSSI_COLUMNS: every base station's RSSI in every report (one row per base station)
 *   host_stats.csv   HOST_STAT_COLUMNS: every host and container statistic sampled during a run
 *   links.csv        LINK_COLUMNS: every link measurement taken during a run
 *   capacity.csv     CAPACITY_COLUMNS: each server's load (its users' reserved cpus, memory) at every change
 *   report.md, fig4-delay.svg/png, fig5-downtime.svg/png, fig6-handover.svg/png: `experiment report DIR`
 *
 * tasks, migrations, handovers, outages and checkpoints have been in every results directory since the first
 * version: the reader refuses a directory without one. The other files came later, and older results lack
 * them (migrations.csv was then a row per phase: LEGACY_MIGRATION_PHASE_COLUMNS).
 *
 * The directory is rewritten as each run ends, every file replaced whole (temp file and rename): at any instant
 * it holds complete files for the runs that had ended, the CSV files, datapackage.json and summary.json first
 * and meta.json last, so a run listed in meta.json `runs` has its rows in every file. `experiment export ID`
 * writes the same files from the state database alone.
 */

export const RESULTS_VERSION = 1;

export const TASK_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  'user',
  't_ms',
  'sent_epoch_ms',
  'bs',
  'host',
  'counter',
  'bytes',
  'e2e_ms',
  'proc_ms',
  'tx_ms',
  'ok',
  'reconnects',
  'error',
] as const;

export const MIGRATION_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  'user',
  'migration',
  'from',
  'to',
  'strategy',
  'codec',
  't_ms',
  'downtime_ms',
  'total_ms',
  'bytes',
  'ok',
  'rolled_back',
  'error',
] as const;

/**
 * migrations.csv before it was one row per migration: each migration repeated on each of its phase rows, with
 * these four columns added. Still read (report-data.ts) so that older results report the same.
 */
export const LEGACY_MIGRATION_PHASE_COLUMNS = [
  'phase',
  'phase_start_ms',
  'phase_duration_ms',
  'phase_bytes',
] as const;

/** The phases of each migration (state table `migration_phases`); the columns in dictionary.ts. */
export const MIGRATION_PHASE_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  'user',
  'migration',
  'seq',
  'phase',
  'start_ms',
  'duration_ms',
  'bytes',
] as const;

/** The agent's reports (state table `user_reports`); the columns in dictionary.ts. */
export const POSITION_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  'user',
  't_ms',
  'x_m',
  'y_m',
  'bs',
  'rssi_dbm',
  'rate_mbps',
] as const;

/** Every base station's RSSI as each report of the agent gave it. */
export const RSSI_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  'user',
  't_ms',
  'bs',
  'rssi_dbm',
] as const;

/** Host (container empty) and container statistics sampled during a run. */
export const HOST_STAT_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  't_ms',
  'host',
  'container',
  'cpu_pct',
  'mem_bytes',
  'mem_limit_bytes',
  'load1',
  'cpus',
] as const;

/** Link measurements taken during a run (the monitor's probes). */
export const LINK_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  't_ms',
  'from',
  'to',
  'rtt_ms',
  'bandwidth_mbps',
  'method',
] as const;

/** Each server's load at the run's start and at every change (capacity.ts). */
export const CAPACITY_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  't_ms',
  'host',
  'users',
  'cpus',
  'mem_mb',
  'cap_cpus',
  'cap_mem_mb',
] as const;

export const HANDOVER_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  'user',
  't_ms',
  'from_bs',
  'to_bs',
  'duration_ms',
  'link_down_ms',
  'trigger',
] as const;

export const OUTAGE_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  'user',
  't_ms',
  'end_t_ms',
  'duration_ms',
  'cause',
  'detail',
] as const;

export const CHECKPOINT_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  'user',
  'migration',
  'host',
  'kind',
  'bytes',
  'ms',
] as const;

/** Every decision a run's controller acted on (state table `decisions`); the columns in dictionary.ts. */
export const DECISION_COLUMNS = [
  'run',
  'planner',
  'repeat',
  'service',
  'user',
  'kind',
  'status',
  'error',
  'from_bs',
  'to_bs',
  'from_host',
  'to_host',
  'decided_t_ms',
  'predicted_ho_t_ms',
  'planned_pre_t_ms',
  'planned_checkpoint_t_ms',
  'planned_handover_t_ms',
  'actual_pre_t_ms',
  'actual_checkpoint_t_ms',
  'actual_handover_t_ms',
  'outage_start_t_ms',
  'outage_end_t_ms',
  'handover_late_ms',
  'checkpoint_late_ms',
  'est_pre_ms',
  'est_mig_ms',
  'est_ho_ms',
  'meas_pre_ms',
  'meas_mig_ms',
  'meas_ho_ms',
  'handover_inside',
  'reaction_ms',
  'pre_bytes',
  'pre_transfer_ms',
  'pre_mbps',
  'link_mbps',
  'migration',
] as const;

/** One planner's run on one service in one repetition. */
export interface RunMeta {
  /** `PLANNER-SERVICE-REPEAT`, the `run` column of every CSV. */
  run: string;
  planner: string;
  service: string;
  repeat: number;
  startedEpochMs: number;
  endedEpochMs: number;
  /** false when it was interrupted or failed: its rows are kept, but it is not a whole run. */
  complete: boolean;
  error?: string;
  /** The user's walk speed (m/s) in this run. */
  velocity: number;
  seed: number;
  experimentId: number;
  /**
   * The span of the run whose rows count, from its start (s): its duration plus the drain (the run goes on
   * after its duration until the reactions to the handovers inside it have ended). Absent: the duration.
   */
  windowS?: number;
  /** Handovers whose consequences the end of the run cut off, one note each. */
  truncated?: string[];
  /** The servers and their capacity (hosts.yml) as the run's planners saw them (capacity.csv). */
  servers?: RunServer[];
  /** Each user's service, what it takes and where it started (absent in results written before). */
  users?: RunUser[];
  /** Placements a baseline made on a server without room (none had room): each one warned of. */
  overCapacity?: number;
}

export interface RunServer {
  host: string;
  cpus: number;
  memMB: number;
}

export interface RunUser {
  user: string;
  service: string;
  /** The server its service was first deployed on, and the base station it started on. */
  host: string;
  bs: string;
  /** What its service takes (its limits in hosts.yml; 0 without limits). */
  cpus: number;
  memMB: number;
}

export interface ExperimentMeta {
  version: typeof RESULTS_VERSION;
  /**
   * The experiment's id in the state database: `edgectl experiment export ID`, `experiment run --resume ID`.
   * Absent in results written before experiments had one.
   */
  id?: number;
  /** `experiment run`'s arguments. */
  args: Record<string, unknown>;
  testbed: string;
  /** hosts.yml as edgectl read it (defaults filled in). */
  inventory: unknown;
  versions: {
    edgectl: string;
    node: string;
    docker: Record<string, string | null>;
    criu: Record<string, string | null>;
    kernel: Record<string, string | null>;
  };
  /** Per directed wired link the planner uses: its latency and whether and how it was emulated. */
  links: { from: string; to: string; latencyMs: number; emulated: boolean | null; method: string | null }[];
  /** The size of each service's image on the servers (bytes), for Table I. */
  imageBytes: Record<string, number | null>;
  startedEpochMs: number;
  /** When the last run ended (when the experiment ended, once `finished`). */
  endedEpochMs: number;
  /** Every planned run ended complete. */
  complete: boolean;
  /**
   * false while the experiment runs, and for good when edgectl was killed during it (`experiment run --resume
   * ID` finishes it); true once it ended, all its runs done or interrupted. Absent in results written before
   * the directory was written run by run (they were written at the end).
   */
  finished?: boolean;
  /** Every run of the experiment by name, in the order they run; those not in `runs` have not ended. */
  plannedRuns?: string[];
  /** The runs that ended, in the order of `plannedRuns`: complete, or not (interrupted, failed). */
  runs: RunMeta[];
  /** Each time the experiment was resumed: when, from which command line, by which edgectl. */
  resumed?: {
    atEpochMs: number;
    commandLine: string[];
    edgectl: string;
    commit: string | null;
    dirty: boolean | null;
  }[];
  /** What was not emulated or measured as the paper did, said plainly. */
  caveats: string[];
  /**
   * What ran, for a reader who wants the same numbers: edgectl's commit (and whether its files differed),
   * the command line, the machine (its load when the experiment started), the lab's session delay (`lab up
   * --session-delay`; null when the testbed is not a local lab that is up), and the settings the runs used.
   * Absent in results written before it was recorded.
   */
  provenance?: {
    commit: string | null;
    dirty: boolean | null;
    commandLine: string[];
    machine: { hostname: string; cpus: number; memGiB: number; loadAvg: number[] };
    labSessionDelayMs: number | null;
    settings: {
      strategy: string;
      codec: string;
      solver: string;
      planEveryMs: number;
      monitorEveryMs: number;
    };
  };
}

export interface Stat {
  mean: number | null;
  std: number | null;
  n: number;
}

/** Over repetitions: the mean of the per-repetition values and its 95% confidence interval (Student t). */
export interface Interval {
  mean: number | null;
  /** Half-width of the 95% interval; null with fewer than two repetitions. */
  ci95: number | null;
  n: number;
}

export interface PlannerSummary {
  planner: string;
  service: string;
  repeats: number;
  tasks: number;
  failedTasks: number;
  e2eMs: Stat;
  procMs: Stat;
  txMs: Stat;
  /** Sum of the outages the user saw per run (ms), over repetitions. */
  downtimeMs: Interval;
  /** Mean E2E per run, over repetitions. */
  meanE2eMs: Interval;
  /**
   * The union of the outages charged to each handover (stats.ts handoverEpisodes), over every handover of
   * every run (n = handovers); absent in older results.
   */
  downtimePerHandoverMs?: Interval;
  migrations: number;
  failedMigrations: number;
  handovers: number;
  /** The service's counter went up by one from task to task in every run (state survived every move). */
  counterContinuous: boolean;
  counterResets: number;
  /** This planner's value divided by orchestrated's (same service); null without orchestrated. */
  ratioToOrchestrated: { e2e: number | null; downtime: number | null };
  /** Per user, when the runs had more than one (absent otherwise, and in older results). */
  users?: UserSummary[];
}

/** One user's share of a planner's runs (summary.json planners[].users). */
export interface UserSummary {
  user: string;
  /** Its own service (the run's service unless each user ran its own). */
  service: string;
  tasks: number;
  failedTasks: number;
  /** Its answered tasks' E2E delay (ms). */
  e2eMs: Stat;
  /** Its time without service per run (ms), over the repetitions. */
  downtimeMs: Interval;
  /** Its downtime charged to each of its handovers (ms). */
  downtimePerHandoverMs: Interval;
  migrations: number;
  handovers: number;
}

/**
 * The difference between two planners of one service in one metric (a - b) with its 95% interval: over
 * repetitions (Welch's t on the per-run values: total downtime per run, mean E2E per run) when both ran at
 * least twice, else a seeded percentile bootstrap over handover episodes (downtime per handover, mean E2E per
 * handover).
 */
export interface Comparison {
  a: string;
  b: string;
  service: string;
  metric: 'downtimeMs' | 'meanE2eMs';
  method: 'repetitions' | 'bootstrap-handovers';
  /** The means compared (per run or per handover, as the method says); null without values. */
  meanA: number | null;
  meanB: number | null;
  /** meanA - meanB. */
  diff: number | null;
  /** The 95% interval of diff; null with fewer than two values on a side. */
  lo: number | null;
  hi: number | null;
  /** Runs or handover episodes on each side. */
  n: [number, number];
  /** lo <= 0 <= hi: no difference can be claimed. Null without an interval. */
  includesZero: boolean | null;
  /** diff / meanB; null when meanB is 0 or missing. */
  relative: number | null;
  /**
   * The 95% interval of the relative difference (meanA / meanB - 1): the bootstrap's own, from each
   * resample's ratio; over repetitions lo / meanB and hi / meanB. Null without an interval. Absent in
   * results written before it was recorded.
   */
  relativeLo?: number | null;
  relativeHi?: number | null;
  /** Why there is no interval, when there is none. */
  note?: string;
}

export interface ExperimentSummary {
  version: typeof RESULTS_VERSION;
  complete: boolean;
  planners: PlannerSummary[];
  /** Every pair of planners of the same service; absent in older results. */
  comparisons?: Comparison[];
}
