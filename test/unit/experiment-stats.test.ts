/**
 * The verdict's statistics against hand-computed cases. Reference quantiles of Student's t are the
 * published table values (df 1, 2, 10, 30) and, for non-integer df, scipy.stats.t.ppf(0.975, df).
 */
import { describe, expect, it } from 'vitest';
import {
  bootstrapInterval,
  handoverEpisodes,
  incompleteBeta,
  studentTCdf,
  studentTQuantile,
  unionLength,
  variance,
  welchInterval,
} from '../../src/lib/experiment/stats.js';

describe("Student's t", () => {
  it('gives the two-sided 95% quantiles of the tables, and between them for non-integer df', () => {
    expect(studentTQuantile(0.975, 1)).toBeCloseTo(12.7062, 4);
    expect(studentTQuantile(0.975, 2)).toBeCloseTo(4.3027, 4);
    expect(studentTQuantile(0.975, 10)).toBeCloseTo(2.2281, 4);
    expect(studentTQuantile(0.975, 30)).toBeCloseTo(2.0423, 4);
    expect(studentTQuantile(0.975, 1e6)).toBeCloseTo(1.96, 3);
    // scipy.stats.t.ppf(0.975, 4.5) = 2.658912; t.ppf(0.975, 0.5) = 164.5577
    expect(studentTQuantile(0.975, 4.5)).toBeCloseTo(2.658912, 5);
    expect(studentTQuantile(0.975, 0.5)).toBeCloseTo(164.5577, 2);
    expect(studentTQuantile(0.025, 10)).toBeCloseTo(-2.2281, 4);
    expect(studentTQuantile(0.5, 3)).toBe(0);
    expect(() => studentTQuantile(1, 3)).toThrow(RangeError);
  });

  it('has the CDF and incomplete beta of scipy', () => {
    // scipy.stats.t.cdf(2, 4.5) = 0.945871; t.cdf(-1.5, 7.3) = 0.087782; special.betainc(2, 3, 0.3) = 0.3483
    expect(studentTCdf(2, 4.5)).toBeCloseTo(0.945871, 6);
    expect(studentTCdf(-1.5, 7.3)).toBeCloseTo(0.087782, 6);
    expect(incompleteBeta(0.3, 2, 3)).toBeCloseTo(0.3483, 10);
    expect(incompleteBeta(0.9, 2, 3)).toBeCloseTo(1 - incompleteBeta(0.1, 3, 2), 12);
  });
});

describe("Welch's interval of a difference of means", () => {
  it('matches a hand computation', () => {
    // a = 1, 2, 3: mean 2, s² 1; b = 4, 6, 8: mean 6, s² 4. diff = -4.
    // se² = 1/3 + 4/3 = 5/3, se = 1.290994; df = (5/3)² / ((1/3)²/2 + (4/3)²/2) = (25/9) / (17/18) = 50/17.
    // t(0.975, 50/17) = 3.218759 (scipy), half-width 4.155400: -8.155400 to 0.155400, zero inside.
    const w = welchInterval([1, 2, 3], [4, 6, 8]);
    expect(w?.diff).toBe(-4);
    expect(w?.df).toBeCloseTo(50 / 17, 12);
    expect(w?.lo).toBeCloseTo(-8.1554, 4);
    expect(w?.hi).toBeCloseTo(0.1554, 4);
    expect(w?.n).toEqual([3, 3]);
    // The same spread, 10 apart: 10 ± 4.1554, zero outside.
    const far = welchInterval([10, 12, 14], [1, 2, 3]);
    expect(far?.lo).toBeCloseTo(5.8446, 4);
    expect(far?.hi).toBeCloseTo(14.1554, 4);
  });

  it('takes the df of the varying sample when the other is constant', () => {
    // a constant: se² = 0 + 4/3, df = (4/3)² / ((4/3)²/2) = 2; t(0.975, 2) = 4.302653; half = 4.969
    const w = welchInterval([5, 5, 5], [4, 6, 8]);
    expect(w?.df).toBeCloseTo(2, 12);
    expect(w?.hi).toBeCloseTo(-1 + 4.302653 * Math.sqrt(4 / 3), 5);
  });

  it('is null below two values, zero-width for constant samples', () => {
    expect(welchInterval([1], [1, 2])).toBeNull();
    expect(welchInterval([], [])).toBeNull();
    expect(welchInterval([5, 5, 5], [3, 3])).toMatchObject({ diff: 2, lo: 2, hi: 2, df: null });
    expect(variance([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(32 / 7, 12);
  });
});

describe('the bootstrap of a difference of means', () => {
  const near = [1400, 1650, 1500, 1720, 1580, 1610, 1490, 1550];
  const orch = [900, 1000, 950, 1100, 980, 1020, 940, 990];

  it('excludes zero for clearly different samples, includes it for the same sample', () => {
    const clear = bootstrapInterval(orch, near);
    expect(clear?.diff).toBeCloseTo(985 - 1562.5, 9);
    expect(clear!.hi).toBeLessThan(0);
    expect(clear!.lo).toBeLessThan(clear!.diff);
    expect(clear!.hi).toBeGreaterThan(clear!.diff);
    const same = bootstrapInterval(near, [...near].reverse());
    expect(same?.diff).toBe(0);
    expect(same!.lo).toBeLessThan(0);
    expect(same!.hi).toBeGreaterThan(0);
  });

  it('gives the relative difference its own interval, never more than 100% below', () => {
    // b's mean varies a lot: the difference's interval divided by b's observed mean would read below -100%.
    const a = [10, 11, 9, 10, 12, 8];
    const b = [20, 400, 30, 25, 350, 15];
    const r = bootstrapInterval(a, b)!;
    expect(r.lo / r.meanB).toBeLessThan(-1);
    expect(r.relLo).toBeGreaterThanOrEqual(-1);
    expect(r.relHi).toBeLessThan(0);
    expect(r.relLo).toBeLessThan(r.relHi!);
    // Constant samples: the ratio's interval is the ratio.
    expect(bootstrapInterval([4, 4, 4], [2, 2])).toMatchObject({ relLo: 1, relHi: 1 });
  });

  it('is repeatable for a seed and moves with another', () => {
    const a = bootstrapInterval(orch, near, { seed: 7 });
    expect(bootstrapInterval(orch, near, { seed: 7 })).toEqual(a);
    expect(bootstrapInterval(orch, near, { seed: 8 })?.lo).not.toBe(a?.lo);
  });

  it('is null below two values, zero-width for constant samples', () => {
    expect(bootstrapInterval([1], [1, 2, 3])).toBeNull();
    expect(bootstrapInterval([4, 4, 4], [1, 1])).toMatchObject({ diff: 3, lo: 3, hi: 3, n: [3, 2] });
  });
});

describe('handover episodes', () => {
  it('measures the union of spans once where they overlap', () => {
    expect(
      unionLength([
        [1000, 3000],
        [1500, 2000],
        [5000, 5500],
        [6000, 6000],
        [7, 3],
      ]),
    ).toBe(2500);
    expect(unionLength([])).toBe(0);
  });

  it('charges each outage to the handover whose midpoints enclose its start, per user', () => {
    // mu1 hands over at 10 s, 30 s and 40 s: episodes (-∞, 20 s), [20 s, 35 s), [35 s, ∞).
    const episodes = handoverEpisodes({
      handovers: [
        { user: 'mu1', atMs: 30_000 },
        { user: 'mu1', atMs: 10_000 },
        { user: 'mu1', atMs: 40_000 },
        { user: 'mu2', atMs: 12_000 },
      ],
      outages: [
        { user: 'mu1', startMs: 9_900, endMs: 10_900 }, // coordinated: just before the handover
        { user: 'mu1', startMs: 10_000, endMs: 10_500 }, // inside the one above: counts once
        { user: 'mu1', startMs: 19_999, endMs: 21_000 }, // a late reaction to the first handover
        { user: 'mu1', startMs: 20_000, endMs: 20_400 }, // the second's (a coordinated migration)
        { user: 'mu1', startMs: 36_000, endMs: null }, // never ended: charged, counts nothing
        { user: 'mu2', startMs: 12_000, endMs: 12_550 },
        { user: 'mu3', startMs: 1_000, endMs: 2_000 }, // no handover of mu3: no episode
      ],
      tasks: [
        { user: 'mu1', atMs: 0, e2eMs: 20 },
        { user: 'mu1', atMs: 19_000, e2eMs: 40 },
        { user: 'mu1', atMs: 25_000, e2eMs: 100 },
        { user: 'mu2', atMs: 50_000, e2eMs: 7 },
      ],
    });
    expect(episodes.map((e) => [e.user, e.atMs, e.fromMs, e.toMs, e.downtimeMs, e.outages])).toEqual([
      ['mu1', 10_000, Number.NEGATIVE_INFINITY, 20_000, 1000 + 1001, 3],
      ['mu2', 12_000, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, 550, 1],
      ['mu1', 30_000, 20_000, 35_000, 400, 1],
      ['mu1', 40_000, 35_000, Number.POSITIVE_INFINITY, 0, 1],
    ]);
    expect(episodes.map((e) => [e.meanE2eMs, e.tasks])).toEqual([
      [30, 2],
      [7, 1],
      [100, 1],
      [null, 0],
    ]);
  });
});
