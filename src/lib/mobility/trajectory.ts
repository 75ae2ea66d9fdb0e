/**
 * Where a mobile user is at a given time. Trajectories are known in advance (the testbed replays them),
 * which is what lets the planner predict handovers instead of waiting for them. Every trajectory is a
 * sequence of straight segments walked at constant speed, so callers that need to search in time (handover
 * prediction) can sample segment ends exactly, where the walk turns and signal trends reverse.
 */
import type { Point, Trajectory } from '../inventory/index.js';

/** The straight piece walked from `startS` to `endS` (seconds since the walk began). */
export interface Segment {
  from: Point;
  to: Point;
  startS: number;
  /** Infinity when the user never leaves `from` (a round trip between two equal points). */
  endS: number;
}

function unreachable(t: never): never {
  throw new Error(`unknown trajectory type: ${(t as { type: string }).type}`);
}

function checkTime(seconds: number): void {
  if (!(seconds >= 0) || !Number.isFinite(seconds)) {
    throw new RangeError(`time must be a finite number of seconds >= 0, got ${seconds}`);
  }
}

/** Seconds after which the trajectory repeats itself; 0 for a user that never moves. */
export function trajectoryPeriodS(t: Trajectory): number {
  switch (t.type) {
    case 'roundtrip':
      return (2 * Math.hypot(t.to[0] - t.from[0], t.to[1] - t.from[1])) / t.speed;
    default:
      return unreachable(t.type);
  }
}

/** The segment being walked `seconds` after the start (a segment end belongs to the next segment). */
export function segmentAt(t: Trajectory, seconds: number): Segment {
  checkTime(seconds);
  switch (t.type) {
    case 'roundtrip': {
      const period = trajectoryPeriodS(t);
      if (period === 0) return { from: t.from, to: t.to, startS: 0, endS: Number.POSITIVE_INFINITY };
      // Counting whole periods rather than taking seconds % period keeps startS/endS consistent with
      // each other, so that startS <= seconds < endS holds up to rounding.
      const k = Math.floor(seconds / period);
      const start = k * period;
      const half = start + period / 2;
      return seconds < half
        ? { from: t.from, to: t.to, startS: start, endS: half }
        : { from: t.to, to: t.from, startS: half, endS: start + period };
    }
    default:
      return unreachable(t.type);
  }
}

/** Where the user is `seconds` after starting at the trajectory's beginning. Throws RangeError for seconds < 0. */
export function positionAt(t: Trajectory, seconds: number): Point {
  const seg = segmentAt(t, seconds);
  if (!Number.isFinite(seg.endS)) return [seg.from[0], seg.from[1]];
  const f = Math.min(1, Math.max(0, (seconds - seg.startS) / (seg.endS - seg.startS)));
  return [seg.from[0] + f * (seg.to[0] - seg.from[0]), seg.from[1] + f * (seg.to[1] - seg.from[1])];
}

/**
 * The walk time (seconds, within the first period) at which the user passes `at`, going the way
 * `heading` points (a displacement, e.g. between its last two reported positions; outwards when it is
 * absent or still). A point off the trajectory counts at its projection on it. This is how a planner that
 * only sees reported positions finds where on a known walk the user is, to predict its next handover.
 */
export function walkTimeAt(t: Trajectory, at: Point, heading?: Point): number {
  switch (t.type) {
    case 'roundtrip': {
      const dx = t.to[0] - t.from[0];
      const dy = t.to[1] - t.from[1];
      const len2 = dx * dx + dy * dy;
      if (len2 === 0) return 0;
      const len = Math.sqrt(len2);
      const f = Math.min(1, Math.max(0, ((at[0] - t.from[0]) * dx + (at[1] - t.from[1]) * dy) / len2));
      const back = heading !== undefined && heading[0] * dx + heading[1] * dy < 0;
      return back ? len / t.speed + ((1 - f) * len) / t.speed : (f * len) / t.speed;
    }
    default:
      return unreachable(t.type);
  }
}
