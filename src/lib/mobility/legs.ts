/**
 * Walks as legs: contiguous straight pieces from time 0, each walked at constant speed (a pause is a leg
 * whose ends are the same point). Waypoint paths and traces are cut into legs once per trajectory object;
 * a random waypoint walk draws its legs from its seed as far as they are asked for and keeps them.
 */
import type {
  NumberRange,
  Point,
  RandomWaypointTrajectory,
  TraceTrajectory,
  Trajectory,
  WaypointsTrajectory,
} from '../inventory/index.js';
import { seededRandom } from '../util/random.js';

/** The straight piece walked from `startS` to `endS` (seconds since the walk began). */
export interface Segment {
  from: Point;
  to: Point;
  startS: number;
  /** Infinity when the user never leaves `from` again (a still user, or the end of a walk without loop). */
  endS: number;
}

export const same = (a: Point, b: Point) => a[0] === b[0] && a[1] === b[1];
export const dist = (a: Point, b: Point) => Math.hypot(b[0] - a[0], b[1] - a[1]);

/**
 * A walk as contiguous legs from 0 (moves and pauses; no leg of zero duration), then either a rest at the
 * last leg's end (`periodic` false) or the same legs again (`periodic` true, period = the last leg's end).
 */
export interface Legs {
  legs: Segment[];
  periodic: boolean;
}

const legsCache = new WeakMap<Trajectory, Legs>();

function pushLeg(legs: Segment[], from: Point, to: Point, durationS: number): void {
  if (!(durationS > 0)) return;
  const startS = legs[legs.length - 1]?.endS ?? 0;
  legs.push({ from, to, startS, endS: startS + durationS });
}

function waypointLegs(t: WaypointsTrajectory): Legs {
  const legs: Segment[] = [];
  const stops = t.loop ? [...t.points.slice(1), t.points[0] as Point] : t.points.slice(1);
  let at = t.points[0] as Point;
  stops.forEach((next, i) => {
    if (same(at, next)) return;
    pushLeg(legs, at, next, dist(at, next) / t.speed);
    // No pause at the end of a walk without loop: the user rests there for good anyway.
    if (t.loop || i < stops.length - 1) pushLeg(legs, next, next, t.pauseS);
    at = next;
  });
  return { legs, periodic: t.loop };
}

function traceLegs(t: TraceTrajectory): Legs {
  const legs: Segment[] = [];
  const first = t.points[0];
  if (first === undefined) return { legs, periodic: false };
  // Before the first row the user stands at its position.
  pushLeg(legs, [first.x, first.y], [first.x, first.y], first.t);
  for (let i = 1; i < t.points.length; i++) {
    const a = t.points[i - 1] as TraceTrajectory['points'][number];
    const b = t.points[i] as TraceTrajectory['points'][number];
    // Two rows at the same time: the user jumps (no leg of zero duration).
    pushLeg(legs, [a.x, a.y], [b.x, b.y], b.t - a.t);
  }
  return { legs, periodic: t.loop };
}

export function fixedLegs(t: WaypointsTrajectory | TraceTrajectory): Legs {
  let found = legsCache.get(t);
  if (found === undefined) {
    found = t.type === 'waypoints' ? waypointLegs(t) : traceLegs(t);
    legsCache.set(t, found);
  }
  return found;
}

/** Where a fixed walk starts and ends: its first and its last position. */
export function startPoint(t: WaypointsTrajectory | TraceTrajectory): Point {
  if (t.type === 'waypoints') return t.points[0] as Point;
  const p = t.points[0];
  return p ? [p.x, p.y] : [0, 0];
}
export function endPoint(t: WaypointsTrajectory | TraceTrajectory): Point {
  if (t.type === 'waypoints') return t.points[t.points.length - 1] as Point;
  const p = t.points[t.points.length - 1];
  return p ? [p.x, p.y] : [0, 0];
}

/**
 * Random waypoint legs, drawn from the seed as far as asked and kept (bounded cache keyed by the walk's
 * parameters, so that copies of one trajectory object share them). Each leg draws, in this order: the
 * destination's x and y, the speed, the pause (a fixed number still takes its draw, so that the walk
 * depends only on the seed and not on how a range is written).
 */
interface RandomWalk {
  legs: Segment[];
  at: Point;
  next: () => number;
}
const randomWalks = new Map<string, RandomWalk>();
const MAX_CACHED_WALKS = 256;
/** A guard against asking for a time so far that its legs would fill the memory. */
const MAX_RANDOM_LEGS = 1_000_000;

function draw(range: NumberRange, next: () => number): number {
  const u = next();
  return typeof range === 'number' ? range : range[0] + u * (range[1] - range[0]);
}

/** The same object asked again (every sample of a prediction) skips building the key. */
const walkOf = new WeakMap<RandomWaypointTrajectory, RandomWalk>();

function randomWalk(t: RandomWaypointTrajectory): RandomWalk {
  const known = walkOf.get(t);
  if (known !== undefined) return known;
  const key = JSON.stringify([t.area, t.speed, t.pauseS, t.seed, t.start ?? null]);
  let walk = randomWalks.get(key);
  if (walk === undefined) {
    const next = seededRandom(t.seed);
    const [x0, y0] = t.area.from;
    const [x1, y1] = t.area.to;
    const at: Point = t.start ? [t.start[0], t.start[1]] : [x0 + next() * (x1 - x0), y0 + next() * (y1 - y0)];
    walk = { legs: [], at, next };
    if (randomWalks.size >= MAX_CACHED_WALKS) {
      const oldest = randomWalks.keys().next().value;
      if (oldest !== undefined) randomWalks.delete(oldest);
    }
    randomWalks.set(key, walk);
  }
  walkOf.set(t, walk);
  return walk;
}

export function randomLegsUntil(t: RandomWaypointTrajectory, seconds: number): Segment[] {
  const walk = randomWalk(t);
  const [x0, y0] = t.area.from;
  const [x1, y1] = t.area.to;
  while ((walk.legs[walk.legs.length - 1]?.endS ?? 0) <= seconds) {
    if (walk.legs.length >= MAX_RANDOM_LEGS)
      throw new RangeError(
        `a random waypoint walk is drawn up to ${MAX_RANDOM_LEGS} legs, not to ${seconds} s`,
      );
    const to: Point = [x0 + walk.next() * (x1 - x0), y0 + walk.next() * (y1 - y0)];
    const speed = draw(t.speed, walk.next);
    const pause = draw(t.pauseS, walk.next);
    pushLeg(walk.legs, walk.at, to, dist(walk.at, to) / speed);
    pushLeg(walk.legs, to, to, pause);
    walk.at = to;
  }
  return walk.legs;
}

/** The leg holding `seconds` (startS <= seconds < endS), by bisection; legs cover [0, last endS). */
export function legAt(legs: readonly Segment[], seconds: number): Segment {
  let lo = 0;
  let hi = legs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((legs[mid] as Segment).startS <= seconds) lo = mid;
    else hi = mid - 1;
  }
  return legs[lo] as Segment;
}

export function shifted(s: Segment, by: number): Segment {
  return by === 0 ? s : { from: s.from, to: s.to, startS: s.startS + by, endS: s.endS + by };
}
