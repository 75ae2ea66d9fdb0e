/**
 * The Lagrangian relaxation of the capacity rows (3c) and base-station rows (3e): with prices on them,
 * every user alone takes its option of best reduced value (value minus the prices of what it uses), and
 *   L(prices) = sum over users of their best reduced value + sum of the prices (rows scaled to 1)
 * bounds the optimum from above for any prices >= 0. The users' one-option rows have the integrality
 * property, so the best L equals the LP relaxation's bound; subgradient steps (Polyak, rows scaled by
 * their capacity so cpus and MB weigh alike) get close to it in a few hundred cheap passes.
 * Along the way the reduced values drive the greedy construction (a Lagrangian heuristic), which gives
 * the incumbent; and the reduced values at the best prices prove which options no better assignment
 * can use (reduced-cost fixing, in reduce.ts).
 */

import { type Flat, Residual } from './flat.js';
import { construct, improve } from './greedy.js';

export interface LagrangeOptions {
  /** A feasible assignment to start from (the greedy's); its value is the first target. */
  incumbent?: Residual | null;
  /** performance.now() after which to stop. */
  deadline: number;
  /** Stop once (bound - incumbent) <= relGap * max(1, |bound|). */
  relGap: number;
  maxIterations?: number;
  /** Time the local search of each heuristic solution may take (ms). */
  improveMs?: number;
}

export interface LagrangeResult {
  /** The lowest L found: an upper bound on the optimum (assuming every user has an option). */
  bound: number;
  /** Reduced values of the options at the prices of `bound`. */
  reduced: Float64Array;
  /** Per user, its best reduced value at those prices (the LP dual of its one-option row). */
  top: Float64Array;
  /** The base stations' prices (scaled by maxUsers) at those prices. */
  bsPrice: Float64Array;
  /** The best assignment found (the incumbent or a heuristic one), or null. */
  best: Residual | null;
  bestValue: number;
  iterations: number;
}

export function lagrange(f: Flat, options: LagrangeOptions): LagrangeResult {
  const { n, S, B, R, start, value, demand } = f;
  const m = start[n]!;
  const maxIterations = options.maxIterations ?? 300;
  const improveMs = options.improveMs ?? 5;
  // Rows that are not worth a price: zero capacity (no option can use it: presolve dropped those) or
  // room for every user that has an option on it (they cannot be violated).
  const rowLive = new Uint8Array(S * R);
  const bsLive = new Uint8Array(B);
  {
    const need = new Float64Array(S * R);
    const seen = new Uint8Array(S);
    const count = new Float64Array(B);
    const seenBs = new Uint8Array(B);
    for (let u = 0; u < n; u++) {
      seen.fill(0);
      seenBs.fill(0);
      for (let k = start[u]!; k < start[u + 1]!; k++) {
        const s = f.server[k]!;
        if (!seen[s]) {
          seen[s] = 1;
          for (let r = 0; r < R; r++) need[s * R + r]! += demand[u * R + r]!;
        }
        const b = f.bs[k]!;
        if (!seenBs[b]) {
          seenBs[b] = 1;
          count[b]! += 1;
        }
      }
    }
    for (let i = 0; i < S * R; i++) rowLive[i] = f.capacity[i]! > 0 && need[i]! > f.capacity[i]! ? 1 : 0;
    for (let b = 0; b < B; b++) bsLive[b] = f.maxUsers[b]! > 0 && count[b]! > f.maxUsers[b]! ? 1 : 0;
  }
  const price = new Float64Array(S * R);
  const bsPrice = new Float64Array(B);
  const coef = new Float64Array(S * R);
  const bsCoef = new Float64Array(B);
  const reduced = new Float64Array(m);
  let bestReduced = new Float64Array(m);
  const topOf = new Float64Array(n);
  let bestTop = new Float64Array(n);
  let bestBsPrice = new Float64Array(B);
  const pick = new Int32Array(n);
  const load = new Float64Array(S * R);
  const onBs = new Float64Array(B);

  let best: Residual | null = options.incumbent ?? null;
  let bestValue = best === null ? Number.NEGATIVE_INFINITY : best.value();
  let bound = Number.POSITIVE_INFINITY;
  let theta = 2;
  let sinceBetter = 0;
  // Progress check: the bound 30 iterations ago. It only seeds the knapsack Lagrangian (kl.ts), so
  // it stops once it gains less than 0.01% per 30 iterations.
  let checkpoint = Number.POSITIVE_INFINITY;
  let it = 0;
  for (; it < maxIterations; it++) {
    for (let i = 0; i < S * R; i++) coef[i] = rowLive[i] ? price[i]! / f.capacity[i]! : 0;
    for (let b = 0; b < B; b++) bsCoef[b] = bsLive[b] ? bsPrice[b]! / f.maxUsers[b]! : 0;
    let L = 0;
    for (let i = 0; i < S * R; i++) L += price[i]!;
    for (let b = 0; b < B; b++) L += bsPrice[b]!;
    for (let u = 0; u < n; u++) {
      let top = Number.NEGATIVE_INFINITY;
      let arg = -1;
      for (let k = start[u]!; k < start[u + 1]!; k++) {
        const base = f.server[k]! * R;
        let rv = value[k]! - bsCoef[f.bs[k]!]!;
        for (let r = 0; r < R; r++) rv -= coef[base + r]! * demand[u * R + r]!;
        reduced[k] = rv;
        if (rv > top) {
          top = rv;
          arg = k;
        }
      }
      pick[u] = arg;
      topOf[u] = top;
      L += top;
    }
    if (L < bound - 1e-12 * Math.max(1, Math.abs(L))) {
      bound = L;
      bestReduced = reduced.slice();
      bestTop = topOf.slice();
      bestBsPrice = bsPrice.slice();
      sinceBetter = 0;
    } else if (++sinceBetter >= 10) {
      theta /= 2;
      sinceBetter = 0;
    }
    // The Lagrangian heuristic: now and then (the construction sorts every user's options).
    if (it % 50 === 0) {
      const res = construct(f, reduced);
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
    if (it % 30 === 29) {
      if (checkpoint - bound < 1e-4 * Math.max(1, Math.abs(bound))) break;
      checkpoint = bound;
    }
    // Subgradient: 1 - usage of each live row (scaled), projected on prices >= 0.
    load.fill(0);
    onBs.fill(0);
    for (let u = 0; u < n; u++) {
      const k = pick[u]!;
      const base = f.server[k]! * R;
      for (let r = 0; r < R; r++) load[base + r]! += demand[u * R + r]!;
      onBs[f.bs[k]!]! += 1;
    }
    for (let i = 0; i < S * R; i++) load[i] = rowLive[i] ? 1 - load[i]! / f.capacity[i]! : 0;
    for (let b = 0; b < B; b++) onBs[b] = bsLive[b] ? 1 - onBs[b]! / f.maxUsers[b]! : 0;
    const fits = load.every((g) => g >= -1e-9) && onBs.every((g) => g >= 0);
    let norm = 0;
    for (let i = 0; i < S * R; i++) {
      if (price[i]! <= 0 && load[i]! > 0) load[i] = 0;
      norm += load[i]! * load[i]!;
    }
    for (let b = 0; b < B; b++) {
      if (bsPrice[b]! <= 0 && onBs[b]! > 0) onBs[b] = 0;
      norm += onBs[b]! * onBs[b]!;
    }
    if (fits) {
      // The relaxed answer itself fits (every live row's scaled slack >= 0): a candidate incumbent, and
      // with complementary slackness (norm 0) an optimal one.
      const res = new Residual(f);
      for (let u = 0; u < n; u++) res.place(u, pick[u]!);
      const v = res.value();
      if (v > bestValue) {
        best = res;
        bestValue = v;
      }
    }
    if (norm === 0) break;
    // Polyak's step towards a target a bit above the incumbent (or below the bound without one).
    const target = Number.isFinite(bestValue) ? bestValue : L - 0.05 * Math.max(1, Math.abs(L));
    const step = (theta * Math.max(L - target, 1e-6 * Math.max(1, Math.abs(L)))) / norm;
    for (let i = 0; i < S * R; i++) if (rowLive[i]) price[i] = Math.max(0, price[i]! - step * load[i]!);
    for (let b = 0; b < B; b++) if (bsLive[b]) bsPrice[b] = Math.max(0, bsPrice[b]! - step * onBs[b]!);
  }
  // The heuristic once more, at the best prices.
  const last = construct(f, bestReduced);
  if (last !== null) {
    improve(last, performance.now() + improveMs);
    const v = last.value();
    if (v > bestValue) {
      best = last;
      bestValue = v;
    }
  }
  return {
    bound,
    reduced: bestReduced,
    top: bestTop,
    bsPrice: bestBsPrice,
    best,
    bestValue,
    iterations: it + 1,
  };
}
