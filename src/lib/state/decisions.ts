/**
 * The decisions an experiment's controller acted on: one row per decision, with the instants it
 * planned, the instants that happened, the planner's estimates next to what was measured, and how it ended.
 * Epoch milliseconds on the controller's clock; null where not known or not applicable.
 */
import type Database from 'better-sqlite3';

export interface DecisionRecord {
  id: number;
  experimentId: number | null;
  user: string;
  /** orchestrated | nearest | random | cloud | ... */
  planner: string;
  /** orchestrated plans ahead of the handover; the baselines react to it. */
  kind: 'coordinated' | 'reactive';
  /** When the controller decided. */
  decidedMs: number;
  fromBs: string | null;
  toBs: string | null;
  fromHost: string | null;
  toHost: string | null;
  /** The t_ho the plan was made for (coordinated). */
  predictedHoMs: number | null;
  /** Planned instants (coordinated; null for reactive decisions). */
  plannedPreMs: number | null;
  plannedCheckpointMs: number | null;
  plannedHandoverMs: number | null;
  /** The pre-checkpoint started. */
  actualPreMs: number | null;
  /** The final checkpoint started (the migration's downtime begins). */
  actualCheckpointMs: number | null;
  /** The radio link went down. */
  actualHandoverMs: number | null;
  /** The planner's estimates (ms). */
  estPreMs: number | null;
  estMigMs: number | null;
  estHoMs: number | null;
  /** Pre-checkpoint + pre-transfer durations. */
  measPreMs: number | null;
  /** The migration's outage as the probe saw it. */
  measMigMs: number | null;
  /** The handover's radio outage (link down to link up): T_ho as the planner means it. */
  measHoMs: number | null;
  /** The migration's outage (probe). */
  outageStartMs: number | null;
  outageEndMs: number | null;
  /** The handover's radio outage lay inside the migration's outage (within 50 ms at either end). */
  handoverInside: boolean | null;
  /** Reactive: handover (link down) to final checkpoint start. */
  reactionMs: number | null;
  /** Pre-transfer throughput against the link's. */
  preBytes: number | null;
  preTransferMs: number | null;
  linkBps: number | null;
  /** migrations.id */
  migrationId: number | null;
  /** rejected: an outside planner's round that failed (time limit, crash, a broken constraint): nothing moved. */
  status: 'planned' | 'done' | 'failed' | 'dropped' | 'rejected';
  error: string | null;
}

type Fields = Omit<DecisionRecord, 'id'>;
type Given = 'user' | 'planner' | 'kind' | 'decidedMs' | 'status';

/** A new decision: the nullable fields left out are null. */
export type NewDecision = Pick<Fields, Given> & Partial<Omit<Fields, Given>>;

/** Every field and its column, in the table's order (the only names that reach SQL). */
const COLUMNS: Record<keyof Fields, string> = {
  experimentId: 'experiment_id',
  user: 'user',
  planner: 'planner',
  kind: 'kind',
  decidedMs: 'decided_ms',
  fromBs: 'from_bs',
  toBs: 'to_bs',
  fromHost: 'from_host',
  toHost: 'to_host',
  predictedHoMs: 'predicted_ho_ms',
  plannedPreMs: 'planned_pre_ms',
  plannedCheckpointMs: 'planned_checkpoint_ms',
  plannedHandoverMs: 'planned_handover_ms',
  actualPreMs: 'actual_pre_ms',
  actualCheckpointMs: 'actual_checkpoint_ms',
  actualHandoverMs: 'actual_handover_ms',
  estPreMs: 'est_pre_ms',
  estMigMs: 'est_mig_ms',
  estHoMs: 'est_ho_ms',
  measPreMs: 'meas_pre_ms',
  measMigMs: 'meas_mig_ms',
  measHoMs: 'meas_ho_ms',
  outageStartMs: 'outage_start_ms',
  outageEndMs: 'outage_end_ms',
  handoverInside: 'handover_inside',
  reactionMs: 'reaction_ms',
  preBytes: 'pre_bytes',
  preTransferMs: 'pre_transfer_ms',
  linkBps: 'link_bps',
  migrationId: 'migration_id',
  status: 'status',
  error: 'error',
};
const FIELDS = Object.keys(COLUMNS) as (keyof Fields)[];

/** SQLite has no boolean: handover_inside is 1, 0 or NULL. */
function toSql(field: keyof Fields, v: unknown): unknown {
  if (v === undefined) return null;
  if (field === 'handoverInside') return v === null ? null : v ? 1 : 0;
  return v;
}

export class Decisions {
  constructor(private readonly db: Database.Database) {}

  insert(r: NewDecision): number {
    const values = FIELDS.map((f) => toSql(f, (r as Partial<Fields>)[f]));
    return Number(
      this.db
        .prepare(
          `INSERT INTO decisions (${FIELDS.map((f) => COLUMNS[f]).join(', ')}) VALUES (${FIELDS.map(() => '?').join(', ')})`,
        )
        .run(...values).lastInsertRowid,
    );
  }

  /** Sets the fields present in `patch` (undefined ones are left as they are; null clears). */
  update(id: number, patch: Partial<Fields>): void {
    const fields = FIELDS.filter((f) => patch[f] !== undefined);
    if (fields.length === 0) return;
    this.db
      .prepare(`UPDATE decisions SET ${fields.map((f) => `${COLUMNS[f]} = ?`).join(', ')} WHERE id = ?`)
      .run(...fields.map((f) => toSql(f, patch[f])), id);
  }

  get(id: number): DecisionRecord | undefined {
    const r = this.db.prepare(`SELECT ${SELECT} FROM decisions WHERE id = ?`).get(id) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  /** The decisions of one run, in the order they were taken. */
  forExperiment(experimentId: number): DecisionRecord[] {
    return (
      this.db
        .prepare(`SELECT ${SELECT} FROM decisions WHERE experiment_id = ? ORDER BY decided_ms, id`)
        .all(experimentId) as Row[]
    ).map(fromRow);
  }
}

type Row = Omit<DecisionRecord, 'handoverInside'> & { handoverInside: number | null };

const SELECT = ['id', ...FIELDS.map((f) => `${COLUMNS[f]} AS ${f}`)].join(', ');

function fromRow(r: Row): DecisionRecord {
  return { ...r, handoverInside: r.handoverInside === null ? null : r.handoverInside === 1 };
}
