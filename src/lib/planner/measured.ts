/**
 * The planner's migration times from what happened. Eq. 5 fitted from checkpoint and restore times alone
 * missed most of a real outage: on the lab a plan estimated simple's migration outage at 282 ms (checkpoint
 * 96 ms, restore 174 ms) where the probe measured 0.9-1.45 s (a quick start on the lab, 2026-12-06), so orchestrated overlapped the
 * migration and the handover only in part. Every migration's outage is measured (migrations.downtime_ms, as
 * the user's probe saw it) and so are its pre phases: those of the same move are the better estimate.
 *
 * The rule, for a user's service moving from server `from` to server `to`:
 * 1. the recorded delta migrations of the same service and of a similar size (its final checkpoint within a
 *    factor of 2 of the user's S_D, where both are known), between the same two servers;
 * 2. else those between similar servers: the same roles at both ends (edge -> edge, edge -> cloud, ...);
 * 3. else none: the model (eq. 5) stands.
 * Of the matching migrations, the newest MEASURED_RECENT count: T_mig is the median of their outages,
 * T_pre-mig's checkpoint and transfer part the median of their pre-checkpoint + pre-transfer durations
 * (each from the migrations that measured it; the model where none did).
 */
import { median } from '../util/stats.js';
import type { MigrationEstimate } from './models.js';

/** How many of the newest matching migrations an estimate is the median of. */
export const MEASURED_RECENT = 5;
/** A recorded migration counts as the same size when its image is within this factor of the user's. */
export const SIZE_FACTOR = 2;

export interface MeasuredMigration {
  service: string;
  from: string;
  to: string;
  /** When it started (epoch ms): the newest count. */
  atMs: number;
  /** Its outage as the probe saw it (ms). */
  downtimeMs: number | null;
  /** Its pre-checkpoint + pre-transfer durations (ms). */
  preMs: number | null;
  /** Its final checkpoint's size (bytes): S_D. */
  imageBytes: number | null;
}

export interface MeasuredEstimate {
  /** T_mig (ms), null: none measured. */
  migMs: number | null;
  /** Pre-checkpoint + pre-transfer (ms), null: none measured. */
  preMs: number | null;
  /** What they come from, e.g. "median of 5 migrations edge1 -> edge2". */
  source: string;
}

export interface MeasuredQuery {
  service: string;
  from: string;
  to: string;
  /** The user's S_D (bytes), null when unknown. */
  imageBytes: number | null;
  /** A server's role (cloud, edge), for "similar servers". */
  roleOf: (server: string) => string | undefined;
}

/** T_mig and T_pre of one move from the migrations recorded (the rule above), or null: the model's. */
export function measuredMigration(
  history: readonly MeasuredMigration[],
  q: MeasuredQuery,
): MeasuredEstimate | null {
  const similarSize = (m: MeasuredMigration) =>
    q.imageBytes === null ||
    m.imageBytes === null ||
    q.imageBytes <= 0 ||
    m.imageBytes <= 0 ||
    Math.max(q.imageBytes / m.imageBytes, m.imageBytes / q.imageBytes) <= SIZE_FACTOR;
  const same = history.filter(
    (m) => m.service === q.service && similarSize(m) && (m.downtimeMs !== null || m.preMs !== null),
  );
  const fromRole = q.roleOf(q.from);
  const toRole = q.roleOf(q.to);
  const tiers: [string, MeasuredMigration[]][] = [
    [`${q.from} -> ${q.to}`, same.filter((m) => m.from === q.from && m.to === q.to)],
    [
      `${fromRole ?? '?'} -> ${toRole ?? '?'} servers`,
      fromRole === undefined || toRole === undefined
        ? []
        : same.filter((m) => q.roleOf(m.from) === fromRole && q.roleOf(m.to) === toRole),
    ],
  ];
  for (const [where, ms] of tiers) {
    if (ms.length === 0) continue;
    const recent = [...ms].sort((a, b) => b.atMs - a.atMs).slice(0, MEASURED_RECENT);
    const mig = recent.map((m) => m.downtimeMs).filter((v): v is number => v !== null);
    const pre = recent.map((m) => m.preMs).filter((v): v is number => v !== null);
    return {
      migMs: median(mig),
      preMs: median(pre),
      source: `median of ${recent.length} migrations ${where}`,
    };
  }
  return null;
}

/**
 * Eq. 5's estimate with the measured times put in where there are some: T_mig replaced by the measured
 * outage; T_pre-mig's checkpoint and transfer by the measured pre phases (its set-up, measured apart, kept).
 * The model's parts (chkptMs, restoreMs, ...) stay as they were, for comparison.
 */
export function withMeasured(model: MigrationEstimate, m: MeasuredEstimate | null): MigrationEstimate {
  const mig = m?.migMs ?? null;
  const pre = m?.preMs ?? null;
  return {
    ...model,
    migMs: mig ?? model.migMs,
    preMigMs: pre === null ? model.preMigMs : model.setupMs + pre,
    migSource: mig === null ? MODEL_SOURCE : (m?.source ?? MODEL_SOURCE),
    preSource: pre === null ? MODEL_SOURCE : (m?.source ?? MODEL_SOURCE),
  };
}

export const MODEL_SOURCE = 'model (eq. 5)';
