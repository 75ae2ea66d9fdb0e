/**
 * Log-normal shadowing: reproducible from its seed, zero mean and sigmaDb spread at any position (not
 * only on its grid), continuous, correlated near and independent far; rssiMap adds it.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PATH_LOSS, type Point, type Shadowing } from '../../src/lib/inventory/index.js';
import { type RadioSite, rssiDbm, rssiMap, shadowingDb } from '../../src/lib/mobility/index.js';
import { seededRandom } from '../../src/lib/util/random.js';

const SH: Shadowing = { sigmaDb: 6, correlationM: 10, seed: 1 };

function stats(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
  return { mean, sd };
}

function correlation(a: number[], b: number[]): number {
  const sa = stats(a);
  const sb = stats(b);
  let c = 0;
  for (let i = 0; i < a.length; i++) c += ((a[i] as number) - sa.mean) * ((b[i] as number) - sb.mean);
  return c / (a.length - 1) / sa.sd / sb.sd;
}

/** Positions spread over 100 km x 100 km: almost all in cells of their own. */
function positions(n: number, seed = 99): Point[] {
  const next = seededRandom(seed);
  return Array.from({ length: n }, () => [next() * 1e5 - 5e4, next() * 1e5 - 5e4] as Point);
}

describe('shadowingDb', () => {
  it('is the same for the same (seed, base station, position), another for another seed or station', () => {
    const p: Point = [123.4, -56.7];
    expect(shadowingDb(SH, 'ap1', p)).toBe(shadowingDb({ ...SH }, 'ap1', [123.4, -56.7]));
    expect(shadowingDb(SH, 'ap1', p)).not.toBe(shadowingDb({ ...SH, seed: 2 }, 'ap1', p));
    expect(shadowingDb(SH, 'ap1', p)).not.toBe(shadowingDb(SH, 'ap2', p));
    // The seed changes the whole map, not one value.
    const a = positions(500).map((q) => shadowingDb(SH, 'ap1', q));
    const b = positions(500).map((q) => shadowingDb({ ...SH, seed: 2 }, 'ap1', q));
    expect(Math.abs(correlation(a, b))).toBeLessThan(0.15);
  });

  it('has mean 0 and standard deviation sigmaDb at any position', () => {
    // 4000 samples: the standard error of the sd is about 1.1 %, of the mean 0.095 dB.
    for (const sigmaDb of [2, 8]) {
      const values = positions(4000).map((q) => shadowingDb({ ...SH, sigmaDb }, 'ap1', q));
      const { mean, sd } = stats(values);
      expect(Math.abs(mean)).toBeLessThan(0.06 * sigmaDb);
      expect(sd / sigmaDb).toBeGreaterThan(0.95);
      expect(sd / sigmaDb).toBeLessThan(1.05);
    }
    // Also at the middle of every cell, where a plain interpolation would have half the spread.
    const centres = positions(4000).map(
      ([x, y]) => [(Math.floor(x / 10) + 0.5) * 10, (Math.floor(y / 10) + 0.5) * 10] as Point,
    );
    const { sd } = stats(centres.map((q) => shadowingDb(SH, 'ap1', q)));
    expect(sd / SH.sigmaDb).toBeGreaterThan(0.95);
    expect(sd / SH.sigmaDb).toBeLessThan(1.05);
  });

  it('is continuous, correlated within correlationM and independent beyond', () => {
    const ps = positions(2000);
    let worst = 0;
    for (const [x, y] of ps.slice(0, 500))
      worst = Math.max(
        worst,
        Math.abs(shadowingDb(SH, 'ap1', [x, y]) - shadowingDb(SH, 'ap1', [x + 0.001, y])),
      );
    expect(worst).toBeLessThan(0.01);
    const at = (dx: number) => ps.map(([x, y]) => shadowingDb(SH, 'ap1', [x + dx, y]));
    const base = at(0);
    expect(correlation(base, at(1))).toBeGreaterThan(0.8);
    expect(correlation(base, at(30))).toBeLessThan(0.15);
  });

  it('is added by rssiMap to the log-distance mean of the base stations that have it', () => {
    const with_: RadioSite = {
      name: 'ap1',
      position: [0, 0],
      pathLoss: { ...DEFAULT_PATH_LOSS, shadowing: SH },
    };
    const without: RadioSite = { name: 'ap2', position: [0, 0], pathLoss: { ...DEFAULT_PATH_LOSS } };
    const p: Point = [30, 40];
    const m = rssiMap([with_, without], p);
    expect(m['ap2']).toBe(rssiDbm(DEFAULT_PATH_LOSS, 50));
    expect(m['ap1']).toBeCloseTo(rssiDbm(DEFAULT_PATH_LOSS, 50) + shadowingDb(SH, 'ap1', p), 12);
    expect(m['ap1']).not.toBe(m['ap2']);
  });
});
