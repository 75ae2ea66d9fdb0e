/**
 * When to start pre-migration, migration and handover (section IV-B, Fig. 2). Counted back from the instant
 * t_ho at which the user must have left its base station: the migration's outage (T_mig) and the
 * handover's (T_ho) start together, so that the service is down once, for max(T_mig, T_ho), and that one
 * window ends before t_ho with a 10% margin on every estimate; pre-migration is started early enough to
 * finish (with its margin) before migration starts. Starting together, not ending together, keeps the
 * shorter outage inside the longer one whatever the estimates' errors: placed to end together by an
 * estimate of T_mig that came out 0.2-0.4 s long (its margin, the spread of measured outages), the handover
 * ended after the migration (the user cannot reach the restored service before its link is back) and
 * stretched the one window to the estimate (orchestrated on the lab, 60 s at 6 m/s: 1.1-1.4 s per pair where
 * the same migrations took 0.86-1.5 s). The baselines react instead: the handover
 * happens at t_ho, and only then does the migration start, pre-migration first (two outages).
 */

/** Every estimate is stretched by this much (the paper's 10% error margin). */
export const MARGIN = 1.1;

export interface Triggers {
  /** Epoch ms, null where there is nothing to start. */
  preMigrationAt: number | null;
  migrationAt: number | null;
  handoverAt: number | null;
  /** The planned outage: [start, end] of the one window (orchestrated) or of each outage (reactive). */
  outages: { startMs: number; endMs: number; cause: 'migration' | 'handover' | 'both' }[];
  /** How much earlier than `nowMs` the schedule wanted to start (0 when it fits). */
  lateMs: number;
}

export interface TriggerInputs {
  nowMs: number;
  /** The instant the user must have left its base station; null: no handover is due (move now). */
  tHoMs: number | null;
  migrate: boolean;
  handover: boolean;
  preMigMs: number;
  migMs: number;
  hoMs: number;
}

/**
 * The orchestrated schedule. Both outages start at the same instant W0 = t_ho - 1.1 * max(T_mig, T_ho)
 * (the final checkpoint and the link going down), the window ends at W1 = W0 + max(T_mig, T_ho), and
 * pre-migration starts at W0 - 1.1 * T_pre-mig. Without a predicted t_ho the schedule starts now. A schedule that would
 * start before now is moved to start now (and `lateMs` says by how much it was late).
 */
export function orchestratedTriggers(x: TriggerInputs): Triggers {
  if (!x.migrate && !x.handover)
    return { preMigrationAt: null, migrationAt: null, handoverAt: null, outages: [], lateMs: 0 };
  const mig = x.migrate ? x.migMs : 0;
  const ho = x.handover ? x.hoMs : 0;
  const window = Math.max(mig, ho);
  const pre = x.migrate ? MARGIN * x.preMigMs : 0;
  // The earliest instant of the schedule, counted back from t_ho.
  const ideal = x.tHoMs === null ? x.nowMs : x.tHoMs - MARGIN * window - pre;
  const lateMs = Math.max(0, x.nowMs - ideal);
  const start = ideal + lateMs;
  const w0 = start + pre;
  const w1 = w0 + window;
  return {
    preMigrationAt: x.migrate ? start : null,
    migrationAt: x.migrate ? w0 : null,
    handoverAt: x.handover ? w0 : null,
    outages: [
      {
        startMs: w0,
        endMs: w1,
        cause: x.migrate && x.handover ? 'both' : x.migrate ? 'migration' : 'handover',
      },
    ],
    lateMs,
  };
}

/**
 * The baselines' reactive schedule: the handover when the user's RSSI makes it (t_ho, or now), then the
 * migration after it: pre-migration once the link is back, migration when pre-migration is done.
 */
export function reactiveTriggers(x: TriggerInputs): Triggers {
  const at = x.tHoMs ?? x.nowMs;
  const outages: Triggers['outages'] = [];
  let t = at;
  let handoverAt: number | null = null;
  if (x.handover) {
    handoverAt = at;
    outages.push({ startMs: at, endMs: at + x.hoMs, cause: 'handover' });
    t = at + x.hoMs;
  }
  if (!x.migrate) return { preMigrationAt: null, migrationAt: null, handoverAt, outages, lateMs: 0 };
  const migrationAt = t + x.preMigMs;
  outages.push({ startMs: migrationAt, endMs: migrationAt + x.migMs, cause: 'migration' });
  return { preMigrationAt: t, migrationAt, handoverAt, outages, lateMs: 0 };
}
