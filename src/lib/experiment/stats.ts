/**
 * The statistics of the verdict, pure: the difference of two planners' means with a 95% interval (Welch's
 * t over repetitions, or a seeded percentile bootstrap over handovers), and the attribution of a user's
 * outages to its handovers (episodes) with the union of each episode's outages.
 */
import { seededRandom } from '../util/random.js';
import { quantile } from '../util/stats.js';

export function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Sample variance (n - 1); null below two values. */
export function variance(values: readonly number[]): number | null {
  const m = mean(values);
  if (m === null || values.length < 2) return null;
  return values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1);
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, nine terms: about 15 significant digits). */
function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let sum = c[0] ?? 1;
  for (let i = 1; i < c.length; i++) sum += (c[i] ?? 0) / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}

/**
 * The regularised incomplete beta function I_x(a, b), from its continued fraction (evaluated by the
 * modified Lentz method), on the side of x where that converges fast.
 */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const front = Math.exp(a * Math.log(x) + b * Math.log(1 - x) - lnBeta(a, b)) / a;
  const tiny = 1e-300;
  // 1 / (1 + d1 / (1 + d2 / (1 + ...))): d(2m) = m(b-m)x / ((a+2m-1)(a+2m)),
  // d(2m+1) = -(a+m)(a+b+m)x / ((a+2m)(a+2m+1)).
  let f = tiny;
  let c = f;
  let d = 0;
  for (let j = 0; j < 400; j++) {
    let num: number;
    if (j === 0) num = 1;
    else if (j % 2 === 0) {
      const m = j / 2;
      num = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    } else {
      const m = (j - 1) / 2;
      num = -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    }
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    f *= c * d;
    if (j > 0 && Math.abs(c * d - 1) < 1e-15) break;
  }
  return front * f;
}

function lnBeta(a: number, b: number): number {
  return lnGamma(a) + lnGamma(b) - lnGamma(a + b);
}

/** The cumulative distribution function of Student's t with `df` degrees of freedom (any finite df > 0). */
export function studentTCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/**
 * The p-quantile of Student's t with `df` degrees of freedom, df not necessarily an integer (Welch's):
 * the root of the CDF, bracketed and bisected to 1e-12.
 */
export function studentTQuantile(p: number, df: number): number {
  if (!(p > 0 && p < 1) || !(df > 0) || !Number.isFinite(df))
    throw new RangeError(`no t quantile for p=${p}, df=${df}`);
  if (p === 0.5) return 0;
  if (p < 0.5) return -studentTQuantile(1 - p, df);
  let lo = 0;
  let hi = 1;
  while (studentTCdf(hi, df) < p) {
    lo = hi;
    hi *= 2;
  }
  for (let i = 0; i < 200 && hi - lo > 1e-12 * Math.max(1, hi); i++) {
    const mid = (lo + hi) / 2;
    if (studentTCdf(mid, df) < p) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** The difference of two means (a - b) and its interval. */
export interface DiffInterval {
  meanA: number;
  meanB: number;
  diff: number;
  lo: number;
  hi: number;
  n: [number, number];
  /**
   * The interval of the relative difference meanA / meanB - 1 itself (the bootstrap's, from each resample's
   * ratio), where known: dividing lo and hi by the observed meanB ignores meanB's own spread, and can give
   * "more than 100% below" for a b whose mean varies a lot.
   */
  relLo?: number;
  relHi?: number;
}

/**
 * Welch's interval for the difference of two means (unequal variances), with the Welch-Satterthwaite
 * degrees of freedom. Null when either sample has fewer than two values; a zero-width interval when both
 * samples are constant.
 */
export function welchInterval(
  a: readonly number[],
  b: readonly number[],
  level = 0.95,
): (DiffInterval & { df: number | null }) | null {
  const va = variance(a);
  const vb = variance(b);
  const ma = mean(a);
  const mb = mean(b);
  if (va === null || vb === null || ma === null || mb === null) return null;
  const sa = va / a.length;
  const sb = vb / b.length;
  const diff = ma - mb;
  const base = { meanA: ma, meanB: mb, diff, n: [a.length, b.length] as [number, number] };
  if (sa + sb === 0) return { ...base, lo: diff, hi: diff, df: null };
  const df = (sa + sb) ** 2 / (sa ** 2 / (a.length - 1) + sb ** 2 / (b.length - 1));
  const half = studentTQuantile(1 - (1 - level) / 2, df) * Math.sqrt(sa + sb);
  return { ...base, lo: diff - half, hi: diff + half, df };
}

export interface BootstrapOptions {
  /** Resamples (default 10 000). */
  resamples?: number;
  /** The generator's seed (default 1): the same seed, the same interval. */
  seed?: number;
  level?: number;
}

/**
 * A percentile bootstrap of the difference of two means (a - b): each resample draws a.length values from
 * a and b.length from b, with replacement, within each group. Null when either has fewer than two values.
 */
export function bootstrapInterval(
  a: readonly number[],
  b: readonly number[],
  options: BootstrapOptions = {},
): DiffInterval | null {
  const ma = mean(a);
  const mb = mean(b);
  if (ma === null || mb === null || a.length < 2 || b.length < 2) return null;
  const resamples = options.resamples ?? 10_000;
  const level = options.level ?? 0.95;
  const random = seededRandom(options.seed ?? 1);
  const draw = (xs: readonly number[]) => {
    let sum = 0;
    for (let i = 0; i < xs.length; i++) sum += xs[Math.floor(random() * xs.length)] ?? 0;
    return sum / xs.length;
  };
  const diffs: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < resamples; r++) {
    const [x, y] = [draw(a), draw(b)];
    diffs.push(x - y);
    if (y !== 0) ratios.push(x / y - 1);
  }
  const lower = (1 - level) / 2;
  const upper = 1 - (1 - level) / 2;
  const relLo = quantile(ratios, lower);
  const relHi = quantile(ratios, upper);
  return {
    meanA: ma,
    meanB: mb,
    diff: ma - mb,
    lo: quantile(diffs, lower) ?? ma - mb,
    hi: quantile(diffs, upper) ?? ma - mb,
    n: [a.length, b.length],
    ...(relLo !== null && relHi !== null && ratios.length === resamples ? { relLo, relHi } : {}),
  };
}

/** The length of the union of time spans (overlapping spans count once); empty or reversed spans add 0. */
export function unionLength(spans: readonly (readonly [number, number])[]): number {
  const sorted = spans.filter(([a, b]) => b > a).sort((x, y) => x[0] - y[0]);
  let total = 0;
  let start = Number.NEGATIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  for (const [a, b] of sorted) {
    if (a <= end) end = Math.max(end, b);
    else {
      if (end > start) total += end - start;
      [start, end] = [a, b];
    }
  }
  if (end > start) total += end - start;
  return total;
}

/** A handover of one user and what is charged to it. */
export interface HandoverEpisode {
  user: string;
  /** The handover instant. */
  atMs: number;
  /** The episode: from the midpoint to the user's previous handover to the midpoint to its next (±∞ at the ends). */
  fromMs: number;
  toMs: number;
  /** The union of the outages it owns (ms); an outage that never ended counts nothing. */
  downtimeMs: number;
  outages: number;
  /** The mean E2E of the answered tasks sent within the episode; null without any. */
  meanE2eMs: number | null;
  tasks: number;
}

/**
 * Charges each outage of a user to one of its handovers: a handover owns the outages that start between
 * the midpoints to its neighbouring handovers of the same user (the first from -∞, the last to +∞), so a
 * reactive migration after a handover and a coordinated one before it are both charged to that handover.
 * Outages of a user without any handover are charged to none. Tasks (answered ones, for the E2E) go by the
 * same rule on their sending instant.
 */
export function handoverEpisodes(input: {
  handovers: readonly { user: string; atMs: number }[];
  outages: readonly { user: string; startMs: number; endMs: number | null }[];
  tasks?: readonly { user: string; atMs: number; e2eMs: number }[];
}): HandoverEpisode[] {
  const users = [...new Set(input.handovers.map((h) => h.user))];
  const episodes: HandoverEpisode[] = [];
  for (const user of users) {
    const times = input.handovers
      .filter((h) => h.user === user)
      .map((h) => h.atMs)
      .sort((x, y) => x - y);
    const outages = input.outages.filter((o) => o.user === user);
    const tasks = (input.tasks ?? []).filter((t) => t.user === user);
    times.forEach((atMs, i) => {
      const prev = times[i - 1];
      const next = times[i + 1];
      const fromMs = prev === undefined ? Number.NEGATIVE_INFINITY : (prev + atMs) / 2;
      const toMs = next === undefined ? Number.POSITIVE_INFINITY : (atMs + next) / 2;
      const owns = (t: number) => t >= fromMs && t < toMs;
      const mine = outages.filter((o) => owns(o.startMs));
      const e2e = tasks.filter((t) => owns(t.atMs)).map((t) => t.e2eMs);
      episodes.push({
        user,
        atMs,
        fromMs,
        toMs,
        downtimeMs: unionLength(
          mine.filter((o) => o.endMs !== null).map((o) => [o.startMs, o.endMs ?? o.startMs] as const),
        ),
        outages: mine.length,
        meanE2eMs: mean(e2e),
        tasks: e2e.length,
      });
    });
  }
  return episodes.sort((x, y) => x.atMs - y.atMs || x.user.localeCompare(y.user));
}
