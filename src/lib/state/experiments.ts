/**
 * The experiments table. One `edgectl experiment run` is a row (parent_id null) and each of its runs (one
 * planner, service and repetition) a row whose parent_id is the experiment's; every task, gap, handover,
 * migration and decision carries the id of the run it belongs to. `config` and `meta` are JSON: an
 * experiment's config is what makes it the same experiment when resumed, its meta the results' meta.json
 * without `runs`; a run's meta is its entry in meta.json `runs[]`, written when it starts and when it ends,
 * so that its rows can be exported from the database alone. Rows written before version 5 of the schema
 * (runs without a parent, no meta) stay as they were.
 */
import type Database from 'better-sqlite3';

export interface ExperimentRecord {
  id: number;
  name: string;
  /** The experiment this row is a run of; null for an experiment (and for runs recorded before there were parents). */
  parentId: number | null;
  planner: string | null;
  service: string | null;
  startedMs: number;
  /** null: it never ended (still running, or edgectl was killed during it). */
  finishedMs: number | null;
  outDir: string | null;
  config: unknown;
  meta: unknown;
}

interface ExperimentRow {
  id: number;
  name: string;
  parent_id: number | null;
  planner: string | null;
  service: string | null;
  started_ms: number;
  finished_ms: number | null;
  out_dir: string | null;
  config: string | null;
  meta: string | null;
}

const json = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

function fromRow(r: ExperimentRow): ExperimentRecord {
  return {
    id: r.id,
    name: r.name,
    parentId: r.parent_id,
    planner: r.planner,
    service: r.service,
    startedMs: r.started_ms,
    finishedMs: r.finished_ms,
    outDir: r.out_dir,
    config: json(r.config),
    meta: json(r.meta),
  };
}

export class Experiments {
  constructor(private readonly db: Database.Database) {}

  start(e: {
    name: string;
    planner: string | null;
    service: string | null;
    startedMs: number;
    outDir: string | null;
    config: unknown;
    parentId?: number | null;
    meta?: unknown;
  }): number {
    return Number(
      this.db
        .prepare(
          `INSERT INTO experiments (name, parent_id, planner, service, started_ms, out_dir, config, meta)
           VALUES (@name, @parentId, @planner, @service, @startedMs, @outDir, @config, @meta)`,
        )
        .run({
          ...e,
          parentId: e.parentId ?? null,
          config: JSON.stringify(e.config ?? null),
          meta: e.meta === undefined ? null : JSON.stringify(e.meta),
        }).lastInsertRowid,
    );
  }

  /** Replaces the row's meta (a run's as it learns its start instant; an experiment's as it fills in). */
  saveMeta(id: number, meta: unknown): void {
    this.db.prepare('UPDATE experiments SET meta = ? WHERE id = ?').run(JSON.stringify(meta), id);
  }

  /** Marks the row ended, with its final meta when given (in the same statement: never one without the other). */
  finish(id: number, finishedMs: number, meta?: unknown): void {
    if (meta === undefined)
      this.db.prepare('UPDATE experiments SET finished_ms = ? WHERE id = ?').run(finishedMs, id);
    else
      this.db
        .prepare('UPDATE experiments SET finished_ms = ?, meta = ? WHERE id = ?')
        .run(finishedMs, JSON.stringify(meta), id);
  }

  /** Marks an ended experiment as running again (it is being resumed). */
  reopen(id: number): void {
    this.db.prepare('UPDATE experiments SET finished_ms = NULL WHERE id = ?').run(id);
  }

  get(id: number): ExperimentRecord | undefined {
    const r = this.db.prepare('SELECT * FROM experiments WHERE id = ?').get(id) as ExperimentRow | undefined;
    return r ? fromRow(r) : undefined;
  }

  /** The runs of an experiment, every attempt, in the order they started. */
  runsOf(parentId: number): ExperimentRecord[] {
    return (
      this.db
        .prepare('SELECT * FROM experiments WHERE parent_id = ? ORDER BY id')
        .all(parentId) as ExperimentRow[]
    ).map(fromRow);
  }
}
