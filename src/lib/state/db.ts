/**
 * The central state database (SQLite through better-sqlite3): what the controller knows of the testbed
 * over time. Versioned schema migrations (PRAGMA user_version), WAL so that a monitor and a command can
 * write at once (each waits up to busy_timeout for the other's write lock), foreign keys on.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { EdgectlError, ExitCode, errorMessage } from '../errors.js';
import { Decisions } from './decisions.js';
import { Experiments } from './experiments.js';
import { Journals } from './journal.js';
import {
  Checkpoints,
  Gaps,
  Handovers,
  HostFacts,
  HostStats,
  Links,
  Migrations,
  Placements,
  Tasks,
  UserReports,
} from './tables.js';

/** Each entry moves the schema from version i to i + 1; never edit one that has shipped. */
export const SCHEMA_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE experiments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    planner TEXT,
    service TEXT,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    out_dir TEXT,
    config TEXT
  );
  CREATE TABLE host_facts (
    host TEXT PRIMARY KEY,
    cpu_score REAL,
    cpu_score_ms INTEGER,
    cpus REAL,
    mem_mb INTEGER,
    updated_ms INTEGER NOT NULL
  );
  CREATE TABLE placements (
    user TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    host TEXT NOT NULL,
    container TEXT NOT NULL,
    container_id TEXT NOT NULL,
    address TEXT NOT NULL,
    port INTEGER NOT NULL,
    since_ms INTEGER NOT NULL
  );
  CREATE TABLE placement_history (
    id INTEGER PRIMARY KEY,
    user TEXT NOT NULL,
    service TEXT NOT NULL,
    host TEXT NOT NULL,
    container TEXT NOT NULL,
    since_ms INTEGER NOT NULL,
    until_ms INTEGER NOT NULL,
    reason TEXT NOT NULL
  );
  CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER REFERENCES experiments(id),
    user TEXT NOT NULL,
    bs TEXT,
    host TEXT,
    service TEXT,
    task_id INTEGER,
    counter INTEGER,
    sent_ms REAL NOT NULL,
    bytes INTEGER NOT NULL,
    e2e_ms REAL,
    proc_ms REAL,
    tx_ms REAL,
    reconnects INTEGER NOT NULL DEFAULT 0,
    ok INTEGER NOT NULL,
    error TEXT
  );
  CREATE INDEX tasks_by_user ON tasks(user, sent_ms);
  CREATE TABLE link_measurements (
    id INTEGER PRIMARY KEY,
    at_ms INTEGER NOT NULL,
    from_host TEXT NOT NULL,
    to_host TEXT NOT NULL,
    rtt_ms REAL,
    bandwidth_bps REAL,
    method TEXT NOT NULL
  );
  CREATE INDEX links_by_pair ON link_measurements(from_host, to_host, at_ms);
  CREATE TABLE migrations (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER REFERENCES experiments(id),
    user TEXT NOT NULL,
    service TEXT NOT NULL,
    from_host TEXT NOT NULL,
    to_host TEXT NOT NULL,
    strategy TEXT NOT NULL,
    codec TEXT,
    started_ms INTEGER NOT NULL,
    finished_ms INTEGER,
    downtime_ms REAL,
    total_ms REAL,
    bytes INTEGER,
    ok INTEGER,
    rolled_back INTEGER NOT NULL DEFAULT 0,
    error TEXT
  );
  CREATE TABLE migration_phases (
    migration_id INTEGER NOT NULL REFERENCES migrations(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    start_ms REAL NOT NULL,
    duration_ms REAL NOT NULL,
    bytes INTEGER,
    PRIMARY KEY (migration_id, seq)
  );
  CREATE TABLE checkpoints (
    id INTEGER PRIMARY KEY,
    migration_id INTEGER REFERENCES migrations(id) ON DELETE CASCADE,
    at_ms INTEGER NOT NULL,
    host TEXT NOT NULL,
    user TEXT NOT NULL,
    kind TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    ms REAL NOT NULL
  );
  CREATE TABLE handovers (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER REFERENCES experiments(id),
    at_ms INTEGER NOT NULL,
    user TEXT NOT NULL,
    from_bs TEXT,
    to_bs TEXT NOT NULL,
    duration_ms REAL
  );
  `,
  `
  ALTER TABLE host_facts ADD COLUMN latency_emulated INTEGER;
  ALTER TABLE host_facts ADD COLUMN latency_method TEXT;
  ALTER TABLE host_facts ADD COLUMN latency_ms INTEGER;
  `,
  `
  ALTER TABLE tasks ADD COLUMN peer TEXT;
  CREATE TABLE user_reports (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER REFERENCES experiments(id),
    at_ms REAL NOT NULL,
    user TEXT NOT NULL,
    x REAL NOT NULL,
    y REAL NOT NULL,
    bs TEXT,
    rssi TEXT NOT NULL,
    rate_bps REAL
  );
  CREATE INDEX user_reports_by_user ON user_reports(user, at_ms);
  CREATE TABLE gaps (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER REFERENCES experiments(id),
    user TEXT NOT NULL,
    start_ms REAL NOT NULL,
    end_ms REAL,
    cause TEXT NOT NULL,
    detail TEXT
  );
  CREATE INDEX gaps_by_user ON gaps(user, start_ms);
  ALTER TABLE handovers ADD COLUMN link_down_ms REAL;
  ALTER TABLE handovers ADD COLUMN answer_gap_ms REAL;
  ALTER TABLE handovers ADD COLUMN trigger TEXT;
  CREATE TABLE host_stats (
    id INTEGER PRIMARY KEY,
    at_ms REAL NOT NULL,
    host TEXT NOT NULL,
    container TEXT,
    cpu_pct REAL,
    mem_bytes REAL,
    mem_limit_bytes REAL,
    load1 REAL,
    cpus REAL
  );
  CREATE INDEX host_stats_by_host ON host_stats(host, at_ms);
  `,
  `
  CREATE TABLE decisions (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER REFERENCES experiments(id),
    user TEXT NOT NULL,
    planner TEXT NOT NULL,
    kind TEXT NOT NULL,
    decided_ms REAL NOT NULL,
    from_bs TEXT,
    to_bs TEXT,
    from_host TEXT,
    to_host TEXT,
    predicted_ho_ms REAL,
    planned_pre_ms REAL,
    planned_checkpoint_ms REAL,
    planned_handover_ms REAL,
    actual_pre_ms REAL,
    actual_checkpoint_ms REAL,
    actual_handover_ms REAL,
    est_pre_ms REAL,
    est_mig_ms REAL,
    est_ho_ms REAL,
    meas_pre_ms REAL,
    meas_mig_ms REAL,
    meas_ho_ms REAL,
    outage_start_ms REAL,
    outage_end_ms REAL,
    handover_inside INTEGER,
    reaction_ms REAL,
    pre_bytes INTEGER,
    pre_transfer_ms REAL,
    link_bps REAL,
    migration_id INTEGER REFERENCES migrations(id),
    status TEXT NOT NULL,
    error TEXT
  );
  CREATE INDEX decisions_by_experiment ON decisions(experiment_id, decided_ms);
  `,
  // An experiment and its runs (experiments.ts): what export and resume read back.
  `
  ALTER TABLE experiments ADD COLUMN parent_id INTEGER REFERENCES experiments(id);
  ALTER TABLE experiments ADD COLUMN meta TEXT;
  CREATE INDEX experiments_by_parent ON experiments(parent_id, id);
  `,
  // v6: the migration journal (src/lib/state/journal.ts): what an unfinished migration made where.
  `
  CREATE TABLE migration_journal (
    migration_id INTEGER PRIMARY KEY REFERENCES migrations(id) ON DELETE CASCADE,
    user TEXT NOT NULL,
    owner_pid INTEGER NOT NULL,
    owner_host TEXT NOT NULL,
    owner_start TEXT,
    facts TEXT NOT NULL,
    steps TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    outcome TEXT,
    updated_ms INTEGER NOT NULL
  );
  CREATE INDEX journal_open ON migration_journal(state, user);
  `,
  // v7: The database's identity, drawn once when the schema reaches this version: the label of every
  // container it deploys and the key of its migrations' staging, so that another database (whose
  // migration ids also start at 1) never takes them for its own. 64 random bits.
  `
  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
  INSERT INTO meta (key, value) VALUES ('instance_id', lower(hex(randomblob(8))));
  `,
];

/** What an instance id looks like (16 hex digits): checked where it is read, as it names paths on servers. */
export const INSTANCE_ID_RE = /^[0-9a-f]{16}$/;

export class StateError extends EdgectlError {
  constructor(message: string, cause?: unknown) {
    super('STATE_DB', ExitCode.internal, message, {
      cause,
      hint: 'check --state (default .edgectl/state.db beside the hosts file) and its directory permissions',
    });
  }
}

export class StateDb {
  readonly placements: Placements;
  readonly tasks: Tasks;
  readonly hostFacts: HostFacts;
  readonly links: Links;
  readonly migrations: Migrations;
  readonly checkpoints: Checkpoints;
  readonly handovers: Handovers;
  readonly experiments: Experiments;
  readonly userReports: UserReports;
  readonly gaps: Gaps;
  readonly hostStats: HostStats;
  readonly decisions: Decisions;
  readonly journal: Journals;

  private instance: string | undefined;

  constructor(readonly db: Database.Database) {
    this.placements = new Placements(db);
    this.tasks = new Tasks(db);
    this.hostFacts = new HostFacts(db);
    this.links = new Links(db);
    this.migrations = new Migrations(db);
    this.checkpoints = new Checkpoints(db);
    this.handovers = new Handovers(db);
    this.experiments = new Experiments(db);
    this.userReports = new UserReports(db);
    this.gaps = new Gaps(db);
    this.hostStats = new HostStats(db);
    this.decisions = new Decisions(db);
    this.journal = new Journals(db);
  }

  /**
   * This database's identity (16 hex digits, drawn when it was created or upgraded): the owner label of
   * the containers it deploys and part of its migrations' keys. A copy of the file shares it.
   */
  get instanceId(): string {
    if (this.instance === undefined) {
      let row: { value: string } | undefined;
      try {
        row = this.db.prepare("SELECT value FROM meta WHERE key = 'instance_id'").get() as
          | { value: string }
          | undefined;
      } catch (err) {
        throw new StateError(
          `the state database ${this.file} has no instance id (schema version ${this.schemaVersion}): open it once without --readonly to upgrade it`,
          err,
        );
      }
      if (!row || !INSTANCE_ID_RE.test(row.value))
        throw new StateError(`the state database ${this.file} has no valid instance id (meta.instance_id)`);
      this.instance = row.value;
    }
    return this.instance;
  }

  /** The database's file (`:memory:` for an in-memory one). */
  get file(): string {
    return this.db.name;
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Runs `work` in one write transaction (IMMEDIATE: takes the write lock up front). */
  transaction<T>(work: () => T): T {
    return this.db.transaction(work).immediate();
  }

  close(): void {
    this.db.close();
  }
}

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_MIGRATIONS.length) {
    throw new StateError(
      `the state database has schema version ${current}, newer than this edgectl knows (${SCHEMA_MIGRATIONS.length})`,
    );
  }
  for (let v = current; v < SCHEMA_MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(SCHEMA_MIGRATIONS[v] ?? '');
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

/**
 * A database opened read-only cannot be upgraded, and the queries of this edgectl name tables and columns of
 * its own schema: an older or newer one is refused with what to do, not met with an SQL error half-way.
 */
function checkReadableVersion(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current === SCHEMA_MIGRATIONS.length) return;
  const file = db.name;
  db.close();
  throw new StateError(
    current < SCHEMA_MIGRATIONS.length
      ? `the state database ${file} has schema version ${current}, older than this edgectl's (${SCHEMA_MIGRATIONS.length}), and this command only reads it: run a command that writes it first (edgectl monitor --once upgrades it)`
      : `the state database ${file} has schema version ${current}, newer than this edgectl knows (${SCHEMA_MIGRATIONS.length})`,
  );
}

/**
 * The state database opened read-only, or undefined when there is none yet: for the commands that only read
 * it (plan, status, logs), which must never leave a new database behind.
 */
export function readState(file: string): StateDb | undefined {
  return existsSync(file) ? openState(file, { readonly: true }) : undefined;
}

export function openState(file: string, options: { readonly?: boolean } = {}): StateDb {
  try {
    if (!options.readonly && file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const db = new Database(file, {
      readonly: options.readonly === true,
      fileMustExist: options.readonly === true,
    });
    db.pragma('busy_timeout = 10000');
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
    if (!options.readonly) migrate(db);
    else checkReadableVersion(db);
    return new StateDb(db);
  } catch (err) {
    if (err instanceof EdgectlError) throw err;
    throw new StateError(`cannot open the state database ${file}: ${errorMessage(err)}`, err);
  }
}
