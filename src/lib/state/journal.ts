/**
 * The migration journal: one row per migration under way, written before anything irreversible and at
 * every step's end, so that another process (`edgectl recover`) can bring a migration whose controller
 * died to one consistent end. `facts` is the migration's own record of what it made where (JSON, owned
 * by src/lib/migration/journal.ts); this layer stores it and never reads inside it.
 */
import type Database from 'better-sqlite3';

export type StepStatus = 'begun' | 'done' | 'undone' | 'undo-failed';

export interface StepRecord {
  step: string;
  status: StepStatus;
  atMs: number;
  error?: string;
}

/** Who runs a migration: a process on a machine, its start time telling a reused pid apart. */
export interface JournalOwner {
  pid: number;
  host: string;
  /** The process's start time (/proc/PID/stat field 22), or null where unknown. */
  start: string | null;
}

export interface JournalEntry {
  migrationId: number;
  user: string;
  owner: JournalOwner;
  facts: unknown;
  steps: StepRecord[];
  /** open: under way or unfinished; closed: brought to an end (outcome says which). */
  state: 'open' | 'closed';
  outcome: string | null;
  updatedMs: number;
}

interface Row {
  migration_id: number;
  user: string;
  owner_pid: number;
  owner_host: string;
  owner_start: string | null;
  facts: string;
  steps: string;
  state: 'open' | 'closed';
  outcome: string | null;
  updated_ms: number;
}

function entryOf(r: Row): JournalEntry {
  return {
    migrationId: r.migration_id,
    user: r.user,
    owner: { pid: r.owner_pid, host: r.owner_host, start: r.owner_start },
    facts: JSON.parse(r.facts) as unknown,
    steps: JSON.parse(r.steps) as StepRecord[],
    state: r.state,
    outcome: r.outcome,
    updatedMs: r.updated_ms,
  };
}

export class Journals {
  constructor(private readonly db: Database.Database) {}

  open(migrationId: number, user: string, owner: JournalOwner, facts: unknown): void {
    this.db
      .prepare(
        `INSERT INTO migration_journal (migration_id, user, owner_pid, owner_host, owner_start, facts, steps, state, updated_ms)
         VALUES (?, ?, ?, ?, ?, ?, '[]', 'open', ?)`,
      )
      .run(migrationId, user, owner.pid, owner.host, owner.start, JSON.stringify(facts), Date.now());
  }

  setFacts(migrationId: number, facts: unknown): void {
    this.db
      .prepare('UPDATE migration_journal SET facts = ?, updated_ms = ? WHERE migration_id = ?')
      .run(JSON.stringify(facts), Date.now(), migrationId);
  }

  /** Appends a step's record (a read and a write in one transaction: one writer per migration). */
  step(migrationId: number, rec: StepRecord): void {
    this.db
      .transaction(() => {
        const row = this.db
          .prepare('SELECT steps FROM migration_journal WHERE migration_id = ?')
          .get(migrationId) as { steps: string } | undefined;
        if (!row) return;
        const steps = JSON.parse(row.steps) as StepRecord[];
        steps.push(rec);
        this.db
          .prepare('UPDATE migration_journal SET steps = ?, updated_ms = ? WHERE migration_id = ?')
          .run(JSON.stringify(steps), Date.now(), migrationId);
      })
      .immediate();
  }

  /** A new owner (recover takes a migration over from its dead controller). */
  takeOver(migrationId: number, owner: JournalOwner): void {
    this.db
      .prepare(
        'UPDATE migration_journal SET owner_pid = ?, owner_host = ?, owner_start = ?, updated_ms = ? WHERE migration_id = ?',
      )
      .run(owner.pid, owner.host, owner.start, Date.now(), migrationId);
  }

  /**
   * The owner lets go of a migration it leaves unfinished (an undo failed; it returns): no process works
   * on it any more, and a recovery need not wait for this one to end (owner pid 0).
   */
  release(migrationId: number): void {
    this.db
      .prepare(
        'UPDATE migration_journal SET owner_pid = 0, owner_start = NULL, updated_ms = ? WHERE migration_id = ?',
      )
      .run(Date.now(), migrationId);
  }

  close(migrationId: number, outcome: string): void {
    this.db
      .prepare(
        "UPDATE migration_journal SET state = 'closed', outcome = ?, updated_ms = ? WHERE migration_id = ?",
      )
      .run(outcome, Date.now(), migrationId);
  }

  get(migrationId: number): JournalEntry | undefined {
    const r = this.db.prepare('SELECT * FROM migration_journal WHERE migration_id = ?').get(migrationId) as
      | Row
      | undefined;
    return r ? entryOf(r) : undefined;
  }

  /** Migrations not brought to an end, oldest first (of one user, or all). */
  unfinished(user?: string): JournalEntry[] {
    const rows = (
      user === undefined
        ? this.db.prepare("SELECT * FROM migration_journal WHERE state = 'open' ORDER BY migration_id")
        : this.db
            .prepare(
              "SELECT * FROM migration_journal WHERE state = 'open' AND user = ? ORDER BY migration_id",
            )
            .bind(user)
    ).all() as Row[];
    return rows.map(entryOf);
  }
}
