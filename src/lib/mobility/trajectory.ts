/**
 * Where a mobile user is at a given time. Trajectories are known in advance (the testbed replays them),
 * which is what lets the planner predict handovers instead of waiting for them. Every trajectory is a
 * sequence of straight segments walked at constant speed (a pause is a segment whose ends are the same
 * point), so callers that need to search in time (handover prediction) can sample segment ends exactly,
 * where the walk turns and signal trends reverse.
 *
 * Periodic walks (a round trip, a looping waypoint path or trace) repeat with trajectoryPeriodS; the others
 * either come to rest (waypoints and traces without loop) or never repeat (random waypoint, whose legs are
 * drawn from its seed as far as they are asked for and kept, so every caller sees the same walk).
 */
import type { Point, Trajectory } from '../inventory/index.js';
import {
  dist,
  endPoint,
  fixedLegs,
  legAt,
  randomLegsUntil,
  type Segment,
  same,
  shifted,
  startPoint,
} from './legs.js';

export type { Segment } from './legs.js';

function unreachable(t: never): never {
  throw new Error(`unknown trajectory type: ${(t as { type: string }).type}`);
}

function checkTime(seconds: number): void {
  if (!(seconds >= 0) || !Number.isFinite(seconds)) {
    throw new RangeError(`time must be a finite number of seconds >= 0, got ${seconds}`);
  }
}

/**
 * Seconds after which the trajectory repeats itself; 0 for a user that never moves; Infinity for a walk
 * that never repeats (waypoints or a trace without loop, which come to rest, and random waypoint).
 */
export function trajectoryPeriodS(t: Trajectory): number {
  switch (t.type) {
    case 'roundtrip':
      return (2 * Math.hypot(t.to[0] - t.from[0], t.to[1] - t.from[1])) / t.speed;
    case 'waypoints':
    case 'trace': {
      const { legs, periodic } = fixedLegs(t);
      if (!legs.some((l) => !same(l.from, l.to))) return 0;
      return periodic ? (legs[legs.length - 1] as Segment).endS : Number.POSITIVE_INFINITY;
    }
    case 'random-waypoint':
      return Number.POSITIVE_INFINITY;
    default:
      return unreachable(t);
  }
}

/**
 * Seconds after which the user never moves again: Infinity for a periodic or random walk that moves, 0 for
 * a still one, the end of the last row or point for a trace or waypoint path without loop.
 */
export function motionEndS(t: Trajectory): number {
  const period = trajectoryPeriodS(t);
  if (period === 0) return 0;
  if ((t.type === 'waypoints' || t.type === 'trace') && !t.loop) {
    const legs = fixedLegs(t).legs;
    return legs[legs.length - 1]?.endS ?? 0;
  }
  return Number.POSITIVE_INFINITY;
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
    case 'waypoints':
    case 'trace': {
      const { legs, periodic } = fixedLegs(t);
      const period = trajectoryPeriodS(t);
      if (period === 0) {
        const p = startPoint(t);
        return { from: p, to: p, startS: 0, endS: Number.POSITIVE_INFINITY };
      }
      const endS = (legs[legs.length - 1] as Segment).endS;
      if (!periodic) {
        if (seconds >= endS) {
          const p = endPoint(t);
          return { from: p, to: p, startS: endS, endS: Number.POSITIVE_INFINITY };
        }
        return legAt(legs, seconds);
      }
      const k = Math.floor(seconds / period);
      // Rounding can leave seconds - k * period at the period itself: that instant starts the next round.
      const local = Math.min(seconds - k * period, endS);
      const leg = legAt(legs, local);
      return local >= leg.endS ? shifted(legs[0] as Segment, (k + 1) * period) : shifted(leg, k * period);
    }
    case 'random-waypoint':
      return legAt(randomLegsUntil(t, seconds), seconds);
    default:
      return unreachable(t);
  }
}

/** Where the user is `seconds` after starting at the trajectory's beginning. Throws RangeError for seconds < 0. */
export function positionAt(t: Trajectory, seconds: number): Point {
  const seg = segmentAt(t, seconds);
  if (!Number.isFinite(seg.endS)) return [seg.from[0], seg.from[1]];
  const f = Math.min(1, Math.max(0, (seconds - seg.startS) / (seg.endS - seg.startS)));
  return [seg.from[0] + f * (seg.to[0] - seg.from[0]), seg.from[1] + f * (seg.to[1] - seg.from[1])];
}

/** The fastest the user ever walks (m/s), e.g. to choose a sampling step along its walk; 0 when still. */
export function maxSpeed(t: Trajectory): number {
  switch (t.type) {
    case 'roundtrip':
      return trajectoryPeriodS(t) === 0 ? 0 : t.speed;
    case 'waypoints':
      return t.speed;
    case 'random-waypoint':
      return typeof t.speed === 'number' ? t.speed : t.speed[1];
    case 'trace':
      return Math.max(0, ...fixedLegs(t).legs.map((l) => dist(l.from, l.to) / (l.endS - l.startS)));
    default:
      return unreachable(t);
  }
}

/**
 * The walk's nominal speed (m/s): the speed as written, the middle of a random waypoint's range, a trace's
 * distance over its moving time (0 for a trace that never moves). What an experiment records as its velocity.
 */
export function nominalSpeed(t: Trajectory): number {
  switch (t.type) {
    case 'roundtrip':
    case 'waypoints':
      return t.speed;
    case 'random-waypoint':
      return typeof t.speed === 'number' ? t.speed : (t.speed[0] + t.speed[1]) / 2;
    case 'trace': {
      let d = 0;
      let s = 0;
      for (const l of fixedLegs(t).legs)
        if (!same(l.from, l.to)) {
          d += dist(l.from, l.to);
          s += l.endS - l.startS;
        }
      return s > 0 ? d / s : 0;
    }
    default:
      return unreachable(t);
  }
}

/**
 * The same walk at another speed (`experiment run --velocity`): a round trip, waypoint path or random
 * waypoint walk (all its legs) at `speed`; a trace keeps its own timing, which is what it records.
 */
export function withSpeed(t: Trajectory, speed: number): Trajectory {
  if (!(speed > 0) || !Number.isFinite(speed)) throw new RangeError(`speed must be > 0 m/s, got ${speed}`);
  return t.type === 'trace' ? t : { ...t, speed };
}

/** How far (seconds) around the expected time walkTimeAt looks on a walk that never repeats. */
export const WALK_SEARCH_S = 600;

/**
 * The walk time at which the user passes `at`, going the way `heading` points (a displacement, e.g.
 * between its last two reported positions; absent or still: any way; a leg at right angles to it or
 * against it counts only when no leg goes its way). A point off the trajectory counts
 * at its projection on it. This is how a planner that only sees reported positions finds where on a known
 * walk the user is, to predict its next handover.
 *
 * A periodic walk answers within its first period; a round trip without heading goes outwards. A walk
 * that may pass the same place more than once at different times (a waypoint path crossing itself, a
 * random waypoint walk) is ambiguous from the position alone: `nearS`, the walk time the caller expects
 * (e.g. from when the walk started), picks among the passes within a metre of the nearest one, the closest
 * in time; without it the earliest wins. A walk that never repeats is searched within WALK_SEARCH_S of
 * nearS (from 0 without it).
 */
export function walkTimeAt(t: Trajectory, at: Point, heading?: Point, nearS?: number): number {
  if (t.type === 'roundtrip') {
    const dx = t.to[0] - t.from[0];
    const dy = t.to[1] - t.from[1];
    const len2 = dx * dx + dy * dy;
    if (len2 === 0) return 0;
    const len = Math.sqrt(len2);
    const f = Math.min(1, Math.max(0, ((at[0] - t.from[0]) * dx + (at[1] - t.from[1]) * dy) / len2));
    const back = heading !== undefined && heading[0] * dx + heading[1] * dy < 0;
    return back ? len / t.speed + ((1 - f) * len) / t.speed : (f * len) / t.speed;
  }
  const period = trajectoryPeriodS(t);
  if (period === 0) return 0;
  let legs: readonly Segment[];
  if (t.type === 'random-waypoint') {
    const from = Math.max(0, (nearS ?? 0) - WALK_SEARCH_S);
    const to = (nearS ?? 0) + WALK_SEARCH_S;
    legs = randomLegsUntil(t, to).filter((l) => l.endS > from && l.startS <= to);
  } else {
    legs = fixedLegs(t).legs;
  }
  const still = heading === undefined || (heading[0] === 0 && heading[1] === 0);
  let candidates: { d: number; s: number }[] = [];
  for (const pass of [0, 1]) {
    for (const l of legs) {
      if (same(l.from, l.to)) continue;
      const dx = l.to[0] - l.from[0];
      const dy = l.to[1] - l.from[1];
      // The second pass takes every leg: a heading no leg matches (rounding, a turn) must not leave none.
      if (pass === 0 && !still && heading[0] * dx + heading[1] * dy <= 0) continue;
      const f = Math.min(
        1,
        Math.max(0, ((at[0] - l.from[0]) * dx + (at[1] - l.from[1]) * dy) / (dx * dx + dy * dy)),
      );
      const d = Math.hypot(l.from[0] + f * dx - at[0], l.from[1] + f * dy - at[1]);
      candidates.push({ d, s: l.startS + f * (l.endS - l.startS) });
    }
    if (candidates.length > 0) break;
  }
  if (candidates.length === 0) return 0;
  const nearest = Math.min(...candidates.map((c) => c.d));
  if (nearS === undefined) {
    candidates = candidates.filter((c) => c.d <= nearest + 1e-9);
    return Math.min(...candidates.map((c) => c.s));
  }
  // Within a metre: reported positions are rounded and the walk time since the start is only approximate.
  const gap = (s: number) => {
    if (!Number.isFinite(period)) return Math.abs(s - nearS);
    const d = Math.abs(s - (nearS % period));
    return Math.min(d, period - d);
  };
  let best = candidates[0] as { d: number; s: number };
  for (const c of candidates)
    if (c.d <= nearest + 1 && (best.d > nearest + 1 || gap(c.s) < gap(best.s))) best = c;
  return best.s;
}
