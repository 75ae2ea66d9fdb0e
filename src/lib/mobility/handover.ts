/**
 * When a user changes base station. The decision uses a relative-RSSI hysteresis, as in the paper: a
 * user leaves a base station it can still decode only for one stronger by more than hysteresisDb, so
 * that walking along the border between two cells, or standing on it, does not flip back and forth.
 * Since trajectories are known, the same rule applied along the walk predicts the next handover instant
 * (t_ho), which is when the planner wants the service to have migrated.
 */
import type { Trajectory } from '../inventory/index.js';
import { type RadioSite, rssiMap } from './radio.js';
import { maxSpeed, motionEndS, positionAt, segmentAt, trajectoryPeriodS } from './trajectory.js';

export interface HandoverRule {
  /** How many dB (strictly) another base station must exceed the current one by; >= 0. */
  hysteresisDb: number;
}

export const DEFAULT_HYSTERESIS_DB = 3;
export const DEFAULT_HANDOVER_RULE: HandoverRule = { hysteresisDb: DEFAULT_HYSTERESIS_DB };

/** Resolution of a predicted handover instant. */
const BISECT_TOLERANCE_S = 1e-3;

function decodable(bs: RadioSite, rssi: Record<string, number>): boolean {
  const value = rssi[bs.name];
  return value !== undefined && value >= bs.pathLoss.minRssiDbm;
}

/** The strongest decodable base station other than `except`; the first in order on a tie. */
function strongest(
  basestations: readonly RadioSite[],
  rssi: Record<string, number>,
  except: string | null,
): RadioSite | undefined {
  let best: RadioSite | undefined;
  for (const bs of basestations) {
    if (bs.name === except || !decodable(bs, rssi)) continue;
    if (best === undefined || (rssi[bs.name] as number) > (rssi[best.name] as number)) best = bs;
  }
  return best;
}

/**
 * The base station to hand over to now, or null to stay with `current`.
 *
 * Without a decodable current base station (none yet, unknown, or fallen below its minRssiDbm) the user
 * goes to the strongest decodable one, or stays (null) when there is none. Otherwise it moves only to the
 * strongest other decodable one, and only when that exceeds the current RSSI by more than hysteresisDb.
 * The target is always the strongest of all, so a user standing still gets at most one handover.
 */
export function decideHandover(
  current: string | null,
  rssi: Record<string, number>,
  basestations: readonly RadioSite[],
  rule: HandoverRule = DEFAULT_HANDOVER_RULE,
): string | null {
  if (!(rule.hysteresisDb >= 0)) throw new RangeError(`hysteresisDb must be >= 0, got ${rule.hysteresisDb}`);
  const currentBs = current === null ? undefined : basestations.find((bs) => bs.name === current);
  if (currentBs === undefined || !decodable(currentBs, rssi)) {
    return strongest(basestations, rssi, current)?.name ?? null;
  }
  const other = strongest(basestations, rssi, current);
  if (other === undefined) return null;
  return (rssi[other.name] as number) - (rssi[currentBs.name] as number) > rule.hysteresisDb
    ? other.name
    : null;
}

export interface PredictOptions {
  /**
   * How far past fromS to look, in seconds. Default: one period of a periodic walk; for a walk that never
   * repeats, until it comes to rest, at most DEFAULT_HORIZON_S (a planner plans again long before).
   */
  horizonS?: number;
  /**
   * Sampling step in seconds before bisection. Default 0.1, finer where shadowing is on: its RSSI is not
   * monotone along a segment, so the step keeps the user within a tenth of the shortest correlationM.
   */
  stepS?: number;
  rule?: HandoverRule;
}

/** The default look-ahead on a walk that never repeats (seconds). */
export const DEFAULT_HORIZON_S = 300;
const DEFAULT_STEP_S = 0.1;
/** A step below this would make a prediction over the horizon too slow to plan with. */
const MIN_STEP_S = 0.005;

/** The default horizon from fromS (see PredictOptions.horizonS). */
export function defaultHorizonS(trajectory: Trajectory, fromS: number): number {
  const period = trajectoryPeriodS(trajectory);
  if (Number.isFinite(period)) return period;
  return Math.min(DEFAULT_HORIZON_S, Math.max(0, motionEndS(trajectory) - fromS));
}

/** The default sampling step (see PredictOptions.stepS). */
export function defaultStepS(trajectory: Trajectory, basestations: readonly RadioSite[]): number {
  const correlations = basestations.flatMap((bs) =>
    bs.pathLoss.shadowing ? [bs.pathLoss.shadowing.correlationM] : [],
  );
  const speed = maxSpeed(trajectory);
  if (correlations.length === 0 || speed === 0) return DEFAULT_STEP_S;
  return Math.max(MIN_STEP_S, Math.min(DEFAULT_STEP_S, Math.min(...correlations) / 10 / speed));
}

export interface PredictedHandover {
  /** Seconds since the walk began; within about 1 ms after the exact instant. */
  atS: number;
  from: string | null;
  to: string;
}

/**
 * The first instant at or after fromS (seconds since the walk began) at which decideHandover would move
 * the user away from `current` along its trajectory, or null if none happens within the horizon.
 * Samples every stepS and at every segment end (where the walk turns), then bisects the step in which the
 * decision changes. A handover window shorter than stepS that contains no sample can be missed; with
 * shadowing the bisection finds one instant at which the decision changes within the step, not
 * necessarily the first, when the RSSI crosses the threshold more than once inside it.
 */
export function predictNextHandover(
  trajectory: Trajectory,
  basestations: readonly RadioSite[],
  current: string | null,
  fromS: number,
  options: PredictOptions = {},
): PredictedHandover | null {
  const horizonS = options.horizonS ?? defaultHorizonS(trajectory, fromS);
  const stepS = options.stepS ?? defaultStepS(trajectory, basestations);
  const rule = options.rule ?? DEFAULT_HANDOVER_RULE;
  if (!(horizonS >= 0) || !Number.isFinite(horizonS))
    throw new RangeError(`horizonS must be >= 0, got ${horizonS}`);
  if (!(stepS > 0) || !Number.isFinite(stepS)) throw new RangeError(`stepS must be > 0, got ${stepS}`);
  const decide = (s: number) =>
    decideHandover(current, rssiMap(basestations, positionAt(trajectory, s)), basestations, rule);

  const endS = fromS + horizonS;
  let lo = fromS;
  let target = decide(lo);
  if (target !== null) return { atS: lo, from: current, to: target };
  while (lo < endS) {
    const segEnd = segmentAt(trajectory, lo).endS;
    const hi = Math.min(lo + stepS, segEnd > lo ? segEnd : Number.POSITIVE_INFINITY, endS);
    target = decide(hi);
    if (target !== null) {
      let a = lo;
      let b = hi;
      while (b - a > BISECT_TOLERANCE_S) {
        const mid = (a + b) / 2;
        const t = decide(mid);
        if (t === null) a = mid;
        else {
          b = mid;
          target = t;
        }
      }
      return { atS: b, from: current, to: target };
    }
    lo = hi;
  }
  return null;
}

/**
 * The successive handovers from fromS over the horizon (default: defaultHorizonS), each predicted from the
 * previous one's target; at most maxCount of them (default 100).
 */
export function nextHandovers(
  trajectory: Trajectory,
  basestations: readonly RadioSite[],
  current: string | null,
  fromS: number,
  options: PredictOptions & { maxCount?: number } = {},
): PredictedHandover[] {
  const endS = fromS + (options.horizonS ?? defaultHorizonS(trajectory, fromS));
  const maxCount = options.maxCount ?? 100;
  const found: PredictedHandover[] = [];
  let at = fromS;
  let bs = current;
  while (found.length < maxCount) {
    const next = predictNextHandover(trajectory, basestations, bs, at, { ...options, horizonS: endS - at });
    if (next === null) break;
    found.push(next);
    at = next.atS;
    bs = next.to;
  }
  return found;
}
