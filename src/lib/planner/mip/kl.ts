/**
 * The stronger Lagrangian bound: relax each user's one-option row (price pi_u, any sign) and the
 * base-station rows (price mu_b >= 0, scaled by maxUsers), keep the servers' capacities. Then each server
 * alone solves a knapsack over the users (profit: the user's best value on it, less the base station's
 * price, less pi_u), and
 *   L(pi, mu) = sum pi_u + sum mu_b + sum over servers of their knapsack's optimum
 * bounds the optimum. Unlike the LP bound (lagrange.ts), it sees that a server holds whole users: with a
 * few users per server, where the LP splits them, the LP bound is several % high and this one is not.
 * It starts from the LP Lagrangian's prices (pi_u = the user's best reduced value there).
 * Its knapsack answers make the heuristic's start (each user on the server that took it), and they
 * prove which (user, server) pairs cannot be in an assignment better than the incumbent:
 *   bound with u forced onto s <= L - pi_u + w(u,s) - K_s + K_s(without u, capacity - demand of u)
 * (the other servers' knapsacks can only lose by u leaving them), with a cheap test first:
 * K_s(without u, less capacity) <= K_s, so L - pi_u + w(u,s) below the incumbent drops the pair.
 */
import type { Flat, Residual } from './flat.js';
import { construct, improve } from './greedy.js';
import { knapsack } from './knapsack.js';

export interface KlOptions {
  /** Starting prices of the users' rows (the LP Lagrangian's best reduced values), length n. */
  pi: Float64Array;
  /** Starting prices of the base-station rows (scaled by maxUsers), length B. */
  mu: Float64Array;
  incumbent: Residual | null;
  deadline: number;
  relGap: number;
  maxIterations?: number;
  /** Local-search time per heuristic solution (ms). */
  improveMs?: number;
  /** Time the pair fixing may take past the deadline (ms; default 0). */
  fixingMs?: number;
}

/** Knapsack nodes per server and evaluation: past it a knapsack gives its bound, not its optimum. */
const NODE_LIMIT = 5000;

/**
 * Above this many (user, server) pairs the knapsacks (a few hundred users each at 1000x50x50) hit their
 * node limit and the bound is no better than the LP's (measured: 165 ms per iteration at 1000x50x50 for
 * a bound above the LP's): the driver does not run it.
 */
export const KL_MAX_PAIRS = 20_000;

/** The number of (user, server) pairs of a flat problem. */
export function pairCount(f: Flat): number {
  let count = 0;
  const seen = new Set<number>();
  for (let u = 0; u < f.n; u++) {
    seen.clear();
    for (let k = f.start[u]!; k < f.start[u + 1]!; k++) seen.add(f.server[k]!);
    count += seen.size;
  }
  return count;
}

export interface KlResult {
  bound: number;
  best: Residual | null;
  bestValue: number;
  iterations: number;
  /** Per flat option: false when its (user, server) pair is proven out (given the incumbent). */
  keep: Uint8Array | null;
}

interface Pairs {
  /** Pairs of server s: sStart[s] .. sStart[s+1]-1. */
  sStart: Int32Array;
  user: Int32Array;
  /** Flat options of pair p: oStart[p] .. oStart[p+1]-1 in opts. */
  oStart: Int32Array;
  opts: Int32Array;
}

function pairsOf(f: Flat): Pairs {
  const lists: number[][][] = Array.from({ length: f.S }, () => []); // server -> [u, k...]
  for (let u = 0; u < f.n; u++) {
    const at = new Map<number, number[]>();
    for (let k = f.start[u]!; k < f.start[u + 1]!; k++) {
      const s = f.server[k]!;
      let l = at.get(s);
      if (l === undefined) {
        l = [u];
        at.set(s, l);
        lists[s]!.push(l);
      }
      l.push(k);
    }
  }
  const P = lists.reduce((a, l) => a + l.length, 0);
  const sStart = new Int32Array(f.S + 1);
  const user = new Int32Array(P);
  const oStart = new Int32Array(P + 1);
  const opts: number[] = [];
  let p = 0;
  for (let s = 0; s < f.S; s++) {
    for (const l of lists[s]!) {
      user[p] = l[0]!;
      for (let i = 1; i < l.length; i++) opts.push(l[i]!);
      oStart[++p] = opts.length;
    }
    sStart[s + 1] = p;
  }
  return { sStart, user, oStart, opts: Int32Array.from(opts) };
}

export function knapsackLagrange(f: Flat, options: KlOptions): KlResult {
  const { n, S, B, R } = f;
  const pr = pairsOf(f);
  const P = pr.user.length;
  const pi = options.pi.slice();
  const mu = options.mu.slice();
  const bsLive = new Uint8Array(B);
  {
    const count = new Float64Array(B);
    for (let u = 0; u < n; u++) {
      const seen = new Set<number>();
      for (let k = f.start[u]!; k < f.start[u + 1]!; k++) seen.add(f.bs[k]!);
      for (const b of seen) count[b]! += 1;
    }
    for (let b = 0; b < B; b++) bsLive[b] = f.maxUsers[b]! > 0 && count[b]! > f.maxUsers[b]! ? 1 : 0;
  }
  const w = new Float64Array(P);
  const wk = new Int32Array(P);
  const weight = new Float64Array(P * R);
  for (let p = 0; p < P; p++) {
    for (let r = 0; r < R; r++) weight[p * R + r] = f.demand[pr.user[p]! * R + r]!;
  }
  const cap = Array.from({ length: S }, (_, s) => f.capacity.subarray(s * R, (s + 1) * R));
  const Kbar = new Float64Array(S);
  const taken = new Uint8Array(P);
  const count = new Int32Array(n);
  const onBs = new Float64Array(B);
  const gradU = new Float64Array(n);
  const gradB = new Float64Array(B);

  let best = options.incumbent;
  let bestValue = best === null ? Number.NEGATIVE_INFINITY : best.value();
  let bound = Number.POSITIVE_INFINITY;
  let boundPi = pi.slice();
  let boundMu = mu.slice();
  let theta = 1;
  let sinceBetter = 0;
  const maxIterations = options.maxIterations ?? 300;
  const improveMs = options.improveMs ?? 10;

  /**
   * w and its option per pair, L, the knapsacks' choices, at prices (pi, mu); NaN when the deadline
   * passed half-way (L is then incomplete).
   */
  const evaluate = (pi: Float64Array, mu: Float64Array, deadline: number): number => {
    for (let p = 0; p < P; p++) {
      let top = Number.NEGATIVE_INFINITY;
      let arg = -1;
      for (let i = pr.oStart[p]!; i < pr.oStart[p + 1]!; i++) {
        const k = pr.opts[i]!;
        const b = f.bs[k]!;
        const v = f.value[k]! - (bsLive[b] ? mu[b]! / f.maxUsers[b]! : 0);
        if (v > top) {
          top = v;
          arg = k;
        }
      }
      w[p] = top;
      wk[p] = arg;
    }
    let L = 0;
    for (let u = 0; u < n; u++) L += pi[u]!;
    for (let b = 0; b < B; b++) L += mu[b]!;
    taken.fill(0);
    for (let s = 0; s < S; s++) {
      const a = pr.sStart[s]!;
      const z = pr.sStart[s + 1]!;
      if (a === z) {
        Kbar[s] = 0;
        continue;
      }
      const profit = new Float64Array(z - a);
      for (let p = a; p < z; p++) profit[p - a] = w[p]! - pi[pr.user[p]!]!;
      if ((s & 7) === 7 && performance.now() >= deadline) return Number.NaN;
      const ks = knapsack(profit, weight.subarray(a * R, z * R), cap[s]!, NODE_LIMIT);
      Kbar[s] = ks.bound;
      for (const i of ks.take) taken[a + i] = 1;
      L += ks.bound;
    }
    return L;
  };

  let it = 0;
  for (; it < maxIterations; it++) {
    const L = evaluate(pi, mu, options.deadline);
    if (Number.isNaN(L)) break;
    if (L < bound - 1e-12 * Math.max(1, Math.abs(L))) {
      bound = L;
      boundPi = pi.slice();
      boundMu = mu.slice();
      sinceBetter = 0;
    } else if (++sinceBetter >= 10) {
      theta /= 2;
      sinceBetter = 0;
    }
    count.fill(0);
    onBs.fill(0);
    const preferred = new Int32Array(n).fill(-1);
    const prefScore = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    for (let p = 0; p < P; p++) {
      if (!taken[p]) continue;
      const u = pr.user[p]!;
      count[u]! += 1;
      onBs[f.bs[wk[p]!]!]! += 1;
      const score = w[p]! - pi[u]!;
      if (score > prefScore[u]!) {
        prefScore[u] = score;
        preferred[u] = wk[p]!;
      }
    }
    // The heuristic: each user where a knapsack took it, the rest by regret; then local search.
    if (it % 3 === 0 || sinceBetter === 0) {
      const res = construct(f, f.value, preferred);
      if (res !== null) {
        improve(res, performance.now() + improveMs);
        const v = res.value();
        if (v > bestValue) {
          best = res;
          bestValue = v;
        }
      }
    }
    if (bound - bestValue <= options.relGap * Math.max(1, Math.abs(bound))) break;
    if (theta < 1e-3 || performance.now() >= options.deadline) break;
    let norm = 0;
    for (let u = 0; u < n; u++) {
      gradU[u] = 1 - count[u]!;
      norm += gradU[u]! * gradU[u]!;
    }
    for (let b = 0; b < B; b++) {
      gradB[b] = bsLive[b] ? 1 - onBs[b]! / f.maxUsers[b]! : 0;
      if (mu[b]! <= 0 && gradB[b]! > 0) gradB[b] = 0;
      norm += gradB[b]! * gradB[b]!;
    }
    if (norm === 0) break; // every user taken once, base stations respected: L is attained
    const target = Number.isFinite(bestValue) ? bestValue : L - 0.05 * Math.max(1, Math.abs(L));
    const step = (theta * Math.max(L - target, 1e-6 * Math.max(1, Math.abs(L)))) / norm;
    for (let u = 0; u < n; u++) pi[u] = pi[u]! - step * gradU[u]!;
    for (let b = 0; b < B; b++) mu[b] = Math.max(0, mu[b]! - step * gradB[b]!);
  }

  /** The server of pair p. */
  const serverOf = (p: number): number => f.server[pr.opts[pr.oStart[p]!]!]!;
  // Pair fixing at the best prices, against the best assignment.
  let keep: Uint8Array | null = null;
  const fixingDeadline = options.deadline + (options.fixingMs ?? 0);
  const L = best !== null && Number.isFinite(bound) ? evaluate(boundPi, boundMu, fixingDeadline) : Number.NaN;
  if (best !== null && !Number.isNaN(L)) {
    const z = bestValue;
    const tol = 1e-7 * Math.max(1, Math.abs(z));
    keep = new Uint8Array(f.start[n]!).fill(1);
    const sub = new Float64Array(R);
    const must: number[] = [];
    for (let s = 0; s < S; s++) {
      const a = pr.sStart[s]!;
      const e = pr.sStart[s + 1]!;
      let profit: Float64Array | undefined;
      // Stopping early is safe: every pair dropped so far is proven out on its own.
      if (performance.now() >= fixingDeadline) break;
      for (let p = a; p < e; p++) {
        const u = pr.user[p]!;
        const quick = L - boundPi[u]! + w[p]!;
        let ub = quick;
        if (quick >= z - tol) {
          profit ??= Float64Array.from({ length: e - a }, (_, i) => w[a + i]! - boundPi[pr.user[a + i]!]!);
          const own = profit[p - a]!;
          profit[p - a] = 0; // without u
          for (let r = 0; r < R; r++) sub[r] = cap[s]![r]! - f.demand[u * R + r]!;
          const ks = knapsack(profit, weight.subarray(a * R, e * R), sub, NODE_LIMIT);
          profit[p - a] = own;
          ub = L - boundPi[u]! + w[p]! - Kbar[s]! + ks.bound;
        }
        if (ub < z - tol) {
          for (let i = pr.oStart[p]!; i < pr.oStart[p + 1]!; i++) keep[pr.opts[i]!] = 0;
        } else if (taken[p]) {
          // u off s: s's knapsack without u, the rest unchanged. Below z: u must be on s.
          profit ??= Float64Array.from({ length: e - a }, (_, i) => w[a + i]! - boundPi[pr.user[a + i]!]!);
          const own = profit[p - a]!;
          profit[p - a] = 0;
          const ks = knapsack(profit, weight.subarray(a * R, e * R), cap[s]!, NODE_LIMIT);
          profit[p - a] = own;
          if (L - Kbar[s]! + ks.bound < z - tol) must.push(p);
        }
      }
    }
    for (const p of must) {
      const u = pr.user[p]!;
      const s = serverOf(p);
      for (let k = f.start[u]!; k < f.start[u + 1]!; k++) if (f.server[k] !== s) keep[k] = 0;
    }
  }
  return { bound, best, bestValue, iterations: it + 1, keep };
}
