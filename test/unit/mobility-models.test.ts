import { describe, expect, it } from 'vitest';
import type {
  Basestation,
  Point,
  RandomWaypointTrajectory,
  Shadowing,
  TraceTrajectory,
  WaypointsTrajectory,
} from '../../src/lib/inventory/index.js';
import {
  decideHandover,
  defaultStepS,
  maxSpeed,
  motionEndS,
  nominalSpeed,
  positionAt,
  predictNextHandover,
  rssiMap,
  segmentAt,
  trajectoryPeriodS,
  walkTimeAt,
  withSpeed,
} from '../../src/lib/mobility/index.js';
import { testBasestation } from '../helpers/basestations.js';

const close = (p: Point, q: Point, digits = 6) => {
  expect(p[0]).toBeCloseTo(q[0], digits);
  expect(p[1]).toBeCloseTo(q[1], digits);
};

const site = testBasestation;

describe('waypoints', () => {
  // (0,0) -> (30,0): 15 s; pause 5 s; (30,0) -> (30,40): 20 s; no pause at the end of a walk without loop.
  const path: WaypointsTrajectory = {
    type: 'waypoints',
    points: [
      [0, 0],
      [30, 0],
      [30, 40],
    ],
    speed: 2,
    pauseS: 5,
    loop: false,
  };

  it('walks each leg at its speed, pauses at each point reached, then stays at the last', () => {
    close(positionAt(path, 0), [0, 0]);
    close(positionAt(path, 7.5), [15, 0]);
    close(positionAt(path, 15), [30, 0]);
    close(positionAt(path, 17), [30, 0]);
    close(positionAt(path, 20), [30, 0]);
    close(positionAt(path, 30), [30, 20]);
    close(positionAt(path, 40), [30, 40]);
    close(positionAt(path, 1000), [30, 40]);
    expect(trajectoryPeriodS(path)).toBe(Number.POSITIVE_INFINITY);
    expect(motionEndS(path)).toBe(40);
    expect(segmentAt(path, 16)).toEqual({ from: [30, 0], to: [30, 0], startS: 15, endS: 20 });
    expect(segmentAt(path, 500)).toEqual({
      from: [30, 40],
      to: [30, 40],
      startS: 40,
      endS: Number.POSITIVE_INFINITY,
    });
  });

  it('with loop walks back to the first point, pauses there, and repeats', () => {
    const loop = { ...path, loop: true };
    // ... 40 s at (30,40); pause to 45; back to (0,0), 50 m: 45..70; pause to 75.
    expect(trajectoryPeriodS(loop)).toBe(75);
    expect(motionEndS(loop)).toBe(Number.POSITIVE_INFINITY);
    close(positionAt(loop, 42), [30, 40]);
    close(positionAt(loop, 57.5), [15, 20]);
    close(positionAt(loop, 72), [0, 0]);
    close(positionAt(loop, 75 + 7.5), [15, 0]);
    close(positionAt(loop, 10 * 75 + 30), [30, 20]);
    const seg = segmentAt(loop, 75 * 3);
    expect(seg.startS).toBeCloseTo(225, 9);
    expect(seg.from).toEqual([0, 0]);
  });

  it('locates a reported position on the path, telling passes apart by heading or expected time', () => {
    // Crosses (10,0) at 5 s going east and at 10 + 10*sqrt(2)/2 + 5 s going north.
    const crossing: WaypointsTrajectory = {
      type: 'waypoints',
      points: [
        [0, 0],
        [20, 0],
        [10, -10],
        [10, 10],
      ],
      speed: 2,
      pauseS: 0,
      loop: false,
    };
    const second = 10 + (10 * Math.SQRT2) / 2 + 5;
    expect(walkTimeAt(crossing, [10, 0])).toBeCloseTo(5, 9);
    expect(walkTimeAt(crossing, [10, 0], [0, 1])).toBeCloseTo(second, 9);
    expect(walkTimeAt(crossing, [10, 0], undefined, 20)).toBeCloseTo(second, 9);
    expect(walkTimeAt(path, [30, 20])).toBeCloseTo(30, 9);
    // Off the path: its projection.
    expect(walkTimeAt(path, [31, 20])).toBeCloseTo(30, 9);
  });
});

describe('random waypoint', () => {
  const walk: RandomWaypointTrajectory = {
    type: 'random-waypoint',
    area: { from: [0, 0], to: [100, 50] },
    speed: [1, 3],
    pauseS: [2, 4],
    seed: 7,
  };
  const legs = (t: RandomWaypointTrajectory, untilS: number) => {
    const out = [];
    for (let s = 0; s < untilS; ) {
      const seg = segmentAt(t, s);
      out.push(seg);
      s = seg.endS;
    }
    return out;
  };

  it('stays inside its area', () => {
    for (let s = 0; s < 3000; s += 0.7) {
      const [x, y] = positionAt(walk, s);
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThanOrEqual(100);
      expect(y).toBeGreaterThanOrEqual(0);
      expect(y).toBeLessThanOrEqual(50);
    }
  });

  it('is the same walk for the same seed (even from a copy, asked in any order) and another for another', () => {
    const times = [900, 3, 450.5, 12, 2000];
    const fresh = { ...walk, area: { from: [0, 0] as Point, to: [100, 50] as Point } };
    expect(times.map((s) => positionAt(fresh, s))).toEqual(times.map((s) => positionAt(walk, s)));
    const other = { ...walk, seed: 8 };
    expect(positionAt(other, 0)).not.toEqual(positionAt(walk, 0));
    expect(positionAt(other, 100)).not.toEqual(positionAt(walk, 100));
  });

  it('draws each leg speed within the range and pauses within the range at every point reached', () => {
    const all = legs(walk, 2000);
    expect(all.length).toBeGreaterThan(40);
    all.forEach((seg, i) => {
      const d = Math.hypot(seg.to[0] - seg.from[0], seg.to[1] - seg.from[1]);
      const dur = seg.endS - seg.startS;
      if (i % 2 === 0) {
        expect(d).toBeGreaterThan(0);
        expect(d / dur).toBeGreaterThanOrEqual(1 - 1e-9);
        expect(d / dur).toBeLessThanOrEqual(3 + 1e-9);
      } else {
        // A pause where the leg before ended.
        expect(d).toBe(0);
        expect(seg.from).toEqual(all[i - 1]?.to);
        expect(dur).toBeGreaterThanOrEqual(2 - 1e-9);
        expect(dur).toBeLessThanOrEqual(4 + 1e-9);
      }
      if (i > 0) expect(seg.startS).toBe(all[i - 1]?.endS);
    });
    // Speeds spread over the range, not one value.
    const speeds = all
      .filter((_, i) => i % 2 === 0)
      .map((s) => Math.hypot(s.to[0] - s.from[0], s.to[1] - s.from[1]) / (s.endS - s.startS));
    expect(Math.max(...speeds) - Math.min(...speeds)).toBeGreaterThan(1);
  });

  it('starts at start when given, never pauses with pauseS 0, keeps a fixed speed', () => {
    const t: RandomWaypointTrajectory = { ...walk, speed: 2, pauseS: 0, start: [10, 10] };
    close(positionAt(t, 0), [10, 10]);
    for (const seg of legs(t, 500)) {
      const d = Math.hypot(seg.to[0] - seg.from[0], seg.to[1] - seg.from[1]);
      expect(d / (seg.endS - seg.startS)).toBeCloseTo(2, 9);
    }
    expect(trajectoryPeriodS(t)).toBe(Number.POSITIVE_INFINITY);
    expect(maxSpeed(walk)).toBe(3);
    expect(nominalSpeed(walk)).toBe(2);
    expect(withSpeed(walk, 5)).toMatchObject({ speed: 5, seed: 7 });
  });

  it('locates a reported position near the expected walk time', () => {
    for (const s of [37.3, 412.9, 1503.2]) {
      const at = positionAt(walk, s);
      const before = positionAt(walk, s - 0.5);
      const heading: Point = [at[0] - before[0], at[1] - before[1]];
      expect(walkTimeAt(walk, at, heading, s + 2)).toBeCloseTo(s, 6);
    }
  });
});

describe('trace', () => {
  const trace: TraceTrajectory = {
    type: 'trace',
    file: '/traces/walk.csv',
    user: 'u1',
    loop: false,
    points: [
      { t: 2, x: 0, y: 0 },
      { t: 12, x: 10, y: 0 },
      { t: 22, x: 10, y: 20 },
    ],
  };

  it('stands at the first row before it, is linear between rows, stays after the last', () => {
    close(positionAt(trace, 0), [0, 0]);
    close(positionAt(trace, 1), [0, 0]);
    close(positionAt(trace, 7), [5, 0]);
    close(positionAt(trace, 17), [10, 10]);
    close(positionAt(trace, 22), [10, 20]);
    close(positionAt(trace, 100), [10, 20]);
    expect(trajectoryPeriodS(trace)).toBe(Number.POSITIVE_INFINITY);
    expect(motionEndS(trace)).toBe(22);
    expect(maxSpeed(trace)).toBe(2);
    expect(nominalSpeed(trace)).toBeCloseTo(1.5, 9);
    // A trace keeps its own timing under --velocity.
    expect(withSpeed(trace, 9)).toBe(trace);
  });

  it('with loop starts over with a period of the last row time', () => {
    const loop = { ...trace, loop: true };
    expect(trajectoryPeriodS(loop)).toBe(22);
    close(positionAt(loop, 22 + 1), [0, 0]);
    close(positionAt(loop, 22 + 7), [5, 0]);
    close(positionAt(loop, 5 * 22 + 17), [10, 10]);
    expect(walkTimeAt(loop, [10, 10])).toBeCloseTo(17, 9);
  });

  it('jumps between two rows at the same time, and one row is a user standing still', () => {
    const jump: TraceTrajectory = {
      ...trace,
      points: [
        { t: 0, x: 0, y: 0 },
        { t: 10, x: 10, y: 0 },
        { t: 10, x: 50, y: 0 },
        { t: 20, x: 60, y: 0 },
      ],
    };
    close(positionAt(jump, 9.999), [9.999, 0], 3);
    close(positionAt(jump, 10), [50, 0]);
    close(positionAt(jump, 15), [55, 0]);
    const still: TraceTrajectory = { ...trace, points: [{ t: 4, x: 3, y: 4 }] };
    expect(trajectoryPeriodS(still)).toBe(0);
    close(positionAt(still, 0), [3, 4]);
    close(positionAt(still, 99), [3, 4]);
    expect(walkTimeAt(still, [0, 0])).toBe(0);
  });
});

describe('handover prediction on the new walks', () => {
  const AP1 = site('ap1', [0, 5], 1);
  const AP2 = site('ap2', [100, 5], 2);

  /** The first instant (to 1 ms) at which decideHandover moves the user, by brute force. */
  function bruteForce(t: Parameters<typeof positionAt>[0], sites: Basestation[], from: number, to: number) {
    for (let s = from; s <= to; s += 0.001) {
      const target = decideHandover('ap1', rssiMap(sites, positionAt(t, s)), sites);
      if (target !== null) return s;
    }
    return null;
  }

  it('finds the handover on a waypoint path and none once the user has come to rest', () => {
    const t: WaypointsTrajectory = {
      type: 'waypoints',
      points: [
        [0, 0],
        [60, 0],
        [60, 30],
      ],
      speed: 10,
      pauseS: 3,
      loop: false,
    };
    const ho = predictNextHandover(t, [AP1, AP2], 'ap1', 0);
    const brute = bruteForce(t, [AP1, AP2], 0, 20);
    expect(ho?.to).toBe('ap2');
    expect(brute).not.toBeNull();
    expect(ho?.atS).toBeCloseTo(brute as number, 2);
    // At rest near ap1 for good: nothing ever happens, and the search ends at the rest, not at a horizon.
    const home: WaypointsTrajectory = {
      ...t,
      points: [
        [60, 0],
        [10, 0],
      ],
    };
    expect(predictNextHandover(home, [AP1, AP2], 'ap1', 100)).toBeNull();
  });

  it('finds the first handover of a random waypoint walk under shadowing, sampled finely enough', () => {
    const shadowing: Shadowing = { sigmaDb: 6, correlationM: 1, seed: 3 };
    const sites = [site('ap1', [0, 25], 1, shadowing), site('ap2', [100, 25], 2, shadowing)];
    const walk: RandomWaypointTrajectory = {
      type: 'random-waypoint',
      area: { from: [0, 0], to: [100, 50] },
      speed: 2,
      pauseS: 0,
      seed: 11,
      start: [5, 25],
    };
    expect(defaultStepS(walk, sites)).toBeCloseTo(1 / 10 / 2, 9);
    const ho = predictNextHandover(walk, sites, 'ap1', 0);
    expect(ho).not.toBeNull();
    const brute = bruteForce(walk, sites, 0, (ho?.atS ?? 0) + 1);
    // Within one sampling step of the first instant (a crossing shorter than a step can hide in it).
    expect(Math.abs((ho?.atS ?? 0) - (brute as number))).toBeLessThan(defaultStepS(walk, sites));
  });
});
