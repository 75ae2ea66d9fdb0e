import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH_LOSS, type Point, type RoundtripTrajectory } from '../../src/lib/inventory/index.js';
import {
  DEFAULT_HYSTERESIS_DB,
  dataRateBps,
  decideHandover,
  distanceM,
  MAX_RATE_BPS,
  nextHandovers,
  positionAt,
  predictNextHandover,
  RATE_TABLE_80211N,
  rssiDbm,
  rssiMap,
  segmentAt,
  trajectoryPeriodS,
} from '../../src/lib/mobility/index.js';
import { testBasestation } from '../helpers/basestations.js';

const bs = testBasestation;

const AP1 = bs('ap1', [0, 5], 1);
const AP2 = bs('ap2', [60, 5], 2);
const TWO = [AP1, AP2];

function roundtrip(from: Point, to: Point, speed: number): RoundtripTrajectory {
  return { type: 'roundtrip', from, to, speed };
}

/**
 * Closed form: on y = 0, the x in [0, 60] where ap2 beats ap1 by exactly H dB, i.e. d1/d2 = r = 10^(H/30):
 * x^2 + 25 = r^2 ((x - 60)^2 + 25)  <=>  (1 - r^2) x^2 + 120 r^2 x + 25 - 3625 r^2 = 0.
 */
function crossingX(hysteresisDb: number): number {
  const r2 = 10 ** (hysteresisDb / 15);
  const a = 1 - r2;
  const b = 120 * r2;
  const c = 25 - 3625 * r2;
  if (Math.abs(a) < 1e-12) return -c / b;
  const roots = [1, -1].map((s) => (-b + s * Math.sqrt(b * b - 4 * a * c)) / (2 * a));
  const x = roots.find((root) => root >= 0 && root <= 60);
  if (x === undefined) throw new Error('no crossing');
  return x;
}

describe('radio model', () => {
  const pl = { exponent: 3, referenceLossDb: 30, minRssiDbm: -82 };

  it('follows RSSI = -(10 n log10 d + A)', () => {
    expect(rssiDbm(pl, 1)).toBe(-30);
    expect(rssiDbm(pl, 10)).toBeCloseTo(-60, 10);
    expect(rssiDbm(pl, 100)).toBeCloseTo(-90, 10);
    expect(rssiDbm(pl, Math.hypot(30, 5))).toBeCloseTo(-74.5, 1);
    expect(rssiDbm(pl, 30.4)).toBeCloseTo(-74.486, 2);
    expect(rssiDbm({ ...pl, exponent: 2 }, 10)).toBeCloseTo(-50, 10);
  });

  it('clamps distances below 1 m to 1 m and rejects negative ones', () => {
    expect(rssiDbm(pl, 0.5)).toBe(-30);
    expect(rssiDbm(pl, 0)).toBe(-30);
    expect(rssiDbm(pl, 1.5)).toBeLessThan(-30);
    expect(() => rssiDbm(pl, -1)).toThrow(RangeError);
  });

  it('maps base stations to their RSSI at a point', () => {
    expect(distanceM([0, 0], [3, 4])).toBe(5);
    const map = rssiMap(TWO, [30, 0]);
    expect(Object.keys(map)).toEqual(['ap1', 'ap2']);
    expect(map['ap1']).toBeCloseTo(map['ap2'] as number, 10);
    expect(rssiMap(TWO, [0, 0])['ap1']).toBeCloseTo(rssiDbm(pl, 5), 10);
  });
});

describe('802.11n rate table', () => {
  it('is sorted, strictly monotone, tops out at 300 Mbit/s and starts at the decode limit', () => {
    for (let i = 1; i < RATE_TABLE_80211N.length; i++) {
      const prev = RATE_TABLE_80211N[i - 1]!;
      const step = RATE_TABLE_80211N[i]!;
      expect(step.rateBps).toBeGreaterThan(prev.rateBps);
      expect(step.minRssiDbm).toBeGreaterThan(prev.minRssiDbm);
      expect(step.mcs).toBe(prev.mcs + 1);
    }
    expect(RATE_TABLE_80211N.map((s) => s.rateBps / 1e6)).toEqual([30, 60, 90, 120, 180, 240, 270, 300]);
    expect(RATE_TABLE_80211N.at(-1)!.rateBps).toBe(MAX_RATE_BPS);
    expect(MAX_RATE_BPS).toBe(300e6);
    expect(RATE_TABLE_80211N[0]!.minRssiDbm).toBe(DEFAULT_PATH_LOSS.minRssiDbm);
  });

  it('gives the rate of a threshold exactly at it and the previous one just below', () => {
    RATE_TABLE_80211N.forEach((step, i) => {
      expect(dataRateBps(step.minRssiDbm)).toBe(step.rateBps);
      expect(dataRateBps(step.minRssiDbm - 0.01)).toBe(i === 0 ? 0 : RATE_TABLE_80211N[i - 1]!.rateBps);
    });
    expect(dataRateBps(-82)).toBe(30e6);
    expect(dataRateBps(-82.01)).toBe(0);
    expect(dataRateBps(-120)).toBe(0);
    expect(dataRateBps(-64)).toBe(300e6);
    expect(dataRateBps(-20, '802.11n')).toBe(300e6);
    expect(dataRateBps(-71.5)).toBe(120e6);
    expect(dataRateBps(Number.NaN)).toBe(0);
  });
});

describe('roundtrip trajectory', () => {
  const walk = roundtrip([0, 0], [120, 0], 1);

  it('has a period of twice the distance over the speed', () => {
    expect(trajectoryPeriodS(walk)).toBe(240);
    expect(trajectoryPeriodS(roundtrip([20, 0], [40, 0], 2))).toBe(20);
    expect(trajectoryPeriodS(roundtrip([1, 2], [4, 6], 2.5))).toBe(4);
  });

  it('goes out, turns at the far end, comes back, and repeats', () => {
    expect(positionAt(walk, 0)).toEqual([0, 0]);
    expect(positionAt(walk, 60)).toEqual([60, 0]);
    expect(positionAt(walk, 120)).toEqual([120, 0]);
    expect(positionAt(walk, 150)).toEqual([90, 0]);
    expect(positionAt(walk, 240)).toEqual([0, 0]);
    expect(positionAt(walk, 3 * 240 + 30)).toEqual([30, 0]);
    expect(positionAt(walk, 5 * 240 + 200)[0]).toBeCloseTo(40, 9);
    const diagonal = roundtrip([1, 2], [4, 6], 2.5);
    expect(positionAt(diagonal, 1)).toEqual([2.5, 4]);
    expect(positionAt(diagonal, 3)).toEqual([2.5, 4]);
    expect(positionAt(diagonal, 2)).toEqual([4, 6]);
  });

  it('names the straight segment being walked', () => {
    expect(segmentAt(walk, 10)).toEqual({ from: [0, 0], to: [120, 0], startS: 0, endS: 120 });
    expect(segmentAt(walk, 120)).toEqual({ from: [120, 0], to: [0, 0], startS: 120, endS: 240 });
    expect(segmentAt(walk, 500)).toEqual({ from: [0, 0], to: [120, 0], startS: 480, endS: 600 });
  });

  it('keeps a user with from = to in place, and rejects negative times', () => {
    const still = roundtrip([3, 4], [3, 4], 1);
    expect(trajectoryPeriodS(still)).toBe(0);
    expect(positionAt(still, 100)).toEqual([3, 4]);
    expect(() => positionAt(walk, -1)).toThrow(RangeError);
    expect(() => segmentAt(walk, Number.NaN)).toThrow(RangeError);
  });
});

describe('decideHandover', () => {
  const rule = { hysteresisDb: 3 };
  const AP3 = bs('ap3', [120, 5], 3);
  const THREE = [AP1, AP2, AP3];

  it('moves only when another base station is stronger by strictly more than the hysteresis', () => {
    expect(decideHandover('ap1', { ap1: -70, ap2: -67 }, TWO, rule)).toBeNull();
    expect(decideHandover('ap1', { ap1: -70, ap2: -66.99 }, TWO, rule)).toBe('ap2');
    expect(decideHandover('ap1', { ap1: -70, ap2: -70 }, TWO, { hysteresisDb: 0 })).toBeNull();
    expect(decideHandover('ap1', { ap1: -70, ap2: -60, ap3: -55 }, THREE, rule)).toBe('ap3');
    expect(DEFAULT_HYSTERESIS_DB).toBe(3);
  });

  it('ignores base stations the user cannot decode', () => {
    expect(
      decideHandover(
        'ap1',
        { ap1: -81, ap2: -60, ap3: -50 },
        [AP1, AP2, { ...AP3, pathLoss: { ...AP3.pathLoss, minRssiDbm: -40 } }],
        rule,
      ),
    ).toBe('ap2');
    expect(decideHandover(null, { ap1: -90, ap2: -85 }, TWO, rule)).toBeNull();
    expect(decideHandover('ap1', { ap1: -90, ap2: -85 }, TWO, rule)).toBeNull();
  });

  it('leaves an undecodable current base station for the strongest, hysteresis or not', () => {
    expect(decideHandover('ap1', { ap1: -83, ap2: -81, ap3: -75 }, THREE, rule)).toBe('ap3');
    expect(decideHandover('ap1', { ap1: -82.5, ap2: -81 }, TWO, rule)).toBe('ap2');
    expect(decideHandover('gone', { ap1: -70, ap2: -75 }, TWO, rule)).toBe('ap1');
  });

  it('picks the strongest from no base station, the first in order on a tie', () => {
    expect(decideHandover(null, { ap1: -70, ap2: -65 }, TWO, rule)).toBe('ap2');
    expect(decideHandover(null, { ap1: -70, ap2: -70 }, TWO, rule)).toBe('ap1');
    expect(decideHandover(null, { ap1: -70, ap2: -70 }, [AP2, AP1], rule)).toBe('ap2');
  });

  it('does not ping-pong for a user standing at the midpoint', () => {
    const rssi = rssiMap(TWO, [30, 0]);
    for (let i = 0; i < 10; i++) {
      expect(decideHandover('ap1', rssi, TWO)).toBeNull();
      expect(decideHandover('ap2', rssi, TWO)).toBeNull();
      expect(decideHandover('ap1', rssi, TWO, { hysteresisDb: 0 })).toBeNull();
    }
    let current: string | null = null;
    let handovers = 0;
    for (let i = 0; i < 10; i++) {
      const next = decideHandover(current, rssi, TWO);
      if (next !== null) {
        current = next;
        handovers++;
      }
    }
    expect(current).toBe('ap1');
    expect(handovers).toBe(1);
  });

  it('gives at most one handover to a user jittering ±0.5 m around the midpoint', () => {
    for (const start of [null, 'ap1', 'ap2'] as const) {
      for (const hysteresisDb of [0, 3]) {
        let seed = 12345;
        const jitter = () => {
          seed = (seed * 1103515245 + 12345) % 2 ** 31;
          return seed / 2 ** 31 - 0.5;
        };
        let current: string | null = start;
        let handovers = 0;
        for (let i = 0; i < 1000; i++) {
          const next = decideHandover(current, rssiMap(TWO, [30 + jitter(), jitter()]), TWO, {
            hysteresisDb,
          });
          if (next !== null) {
            current = next;
            handovers++;
          }
        }
        // With no hysteresis the user does flip at the border; that is what the hysteresis is for.
        if (hysteresisDb === 0) expect(handovers).toBeGreaterThan(1);
        else expect(handovers).toBe(start === null ? 1 : 0);
      }
    }
  });

  it('rejects a negative hysteresis', () => {
    expect(() => decideHandover('ap1', { ap1: -70 }, TWO, { hysteresisDb: -1 })).toThrow(RangeError);
  });
});

describe('predictNextHandover', () => {
  const walk = roundtrip([0, 0], [120, 0], 1);

  it('agrees with the closed-form crossing, checked against a dense scan', () => {
    const x = crossingX(3);
    expect(x).toBeCloseTo(33.54, 1);
    let scanned = Number.NaN;
    for (let s = 0; s <= 60; s += 1e-4) {
      const m = rssiMap(TWO, [s, 0]);
      if ((m['ap2'] as number) - (m['ap1'] as number) > 3) {
        scanned = s;
        break;
      }
    }
    expect(Math.abs(scanned - x)).toBeLessThan(1e-3);
  });

  it.each([0, 1, 3, 6])('finds ap1 -> ap2 at the analytic crossing walking out at 1 m/s (H = %d dB)', (h) => {
    const predicted = predictNextHandover(walk, TWO, 'ap1', 0, { rule: { hysteresisDb: h } });
    expect(predicted).not.toBeNull();
    expect(predicted!.from).toBe('ap1');
    expect(predicted!.to).toBe('ap2');
    const analytic = crossingX(h);
    expect(Math.abs(predicted!.atS - analytic)).toBeLessThan(0.05);
    expect(predicted!.atS).toBeGreaterThanOrEqual(analytic - 1e-6);
    expect(predicted!.atS - analytic).toBeLessThan(2e-3);
  });

  it('finds ap2 -> ap1 on the way back, after the turn', () => {
    const x = crossingX(3);
    const back = predictNextHandover(walk, TWO, 'ap2', 40);
    expect(back).toMatchObject({ from: 'ap2', to: 'ap1' });
    // Back at x = 60 - crossing: 120 s out, then 120 - (60 - x) m back.
    expect(Math.abs(back!.atS - (180 + x))).toBeLessThan(0.05);
  });

  it('times the integration walk: 2 m/s between [20, 0] and [40, 0]', () => {
    const short = roundtrip([20, 0], [40, 0], 2);
    const x = crossingX(3);
    const out = predictNextHandover(short, TWO, 'ap1', 0);
    expect(out).toMatchObject({ from: 'ap1', to: 'ap2' });
    expect(Math.abs(out!.atS - (x - 20) / 2)).toBeLessThan(0.05);
    const back = predictNextHandover(short, TWO, 'ap2', out!.atS);
    expect(back).toMatchObject({ from: 'ap2', to: 'ap1' });
    expect(Math.abs(back!.atS - (10 + (40 - (60 - x)) / 2))).toBeLessThan(0.05);
    // One period later it repeats.
    const again = predictNextHandover(short, TWO, 'ap1', 20);
    expect(Math.abs(again!.atS - (20 + (x - 20) / 2))).toBeLessThan(0.05);
  });

  it('returns null when no handover falls within the horizon', () => {
    expect(predictNextHandover(walk, TWO, 'ap1', 0, { horizonS: 30 })).toBeNull();
    expect(predictNextHandover(roundtrip([30, 0], [30, 0], 1), TWO, 'ap1', 0)).toBeNull();
    // Beyond both base stations' range: nothing to hand over to.
    expect(predictNextHandover(roundtrip([500, 0], [600, 0], 1), TWO, null, 0)).toBeNull();
  });

  it('reports an immediate handover at fromS', () => {
    expect(predictNextHandover(walk, TWO, null, 0)).toEqual({ atS: 0, from: null, to: 'ap1' });
    expect(predictNextHandover(walk, TWO, 'ap2', 0)).toEqual({ atS: 0, from: 'ap2', to: 'ap1' });
  });

  it('catches a handover that is only due at the turn', () => {
    // The walk turns exactly where ap2 first leads by the hysteresis, a step of 7 s would jump over it.
    const x = crossingX(3) + 0.01;
    const brief = roundtrip([0, 0], [x, 0], 1);
    const predicted = predictNextHandover(brief, TWO, 'ap1', 0, { stepS: 7 });
    expect(predicted).toMatchObject({ to: 'ap2' });
    expect(Math.abs(predicted!.atS - crossingX(3))).toBeLessThan(0.05);
  });

  it('lists the handovers of a period in order', () => {
    const x = crossingX(3);
    const list = nextHandovers(walk, TWO, 'ap1', 0);
    expect(list.map((h) => [h.from, h.to])).toEqual([
      ['ap1', 'ap2'],
      ['ap2', 'ap1'],
    ]);
    expect(Math.abs(list[0]!.atS - x)).toBeLessThan(0.05);
    expect(Math.abs(list[1]!.atS - (180 + x))).toBeLessThan(0.05);
    expect(nextHandovers(walk, TWO, 'ap1', 0, { horizonS: 3 * 240 })).toHaveLength(6);
  });

  it('rejects a non-positive step', () => {
    expect(() => predictNextHandover(walk, TWO, 'ap1', 0, { stepS: 0 })).toThrow(RangeError);
  });
});
