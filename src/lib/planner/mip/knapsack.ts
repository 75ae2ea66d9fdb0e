/**
 * 0-1 knapsack with several resources (a server's cpus and memMB): depth-first branch and bound, items
 * in order of profit per unit of the surrogate weight (each resource as a share of its capacity, summed),
 * bounded by the fractional (Dantzig) bound of that surrogate constraint. A node limit keeps it cheap:
 * past it the answer is the best set found and an upper bound, not the optimum (`exact` false).
 */

export interface KnapsackResult {
  /** The best set found: item indices. */
  take: number[];
  /** Its profit. */
  value: number;
  /** An upper bound on the optimum (= value when exact). */
  bound: number;
  exact: boolean;
}

const EPS = 1e-9;

/**
 * Items 0..n-1 with `profit[i]` and weights `weight[i*R + r]`; capacity per resource `cap[r]`. Items of
 * profit <= 0, or that do not fit alone, are never taken.
 */
export function knapsack(
  profit: ArrayLike<number>,
  weight: ArrayLike<number>,
  cap: ArrayLike<number>,
  nodeLimit = 20_000,
): KnapsackResult {
  const R = cap.length;
  const slack = Array.from(cap, (c) => EPS * Math.max(1, Math.abs(c)));
  const items: number[] = [];
  let all = 0;
  const sum = new Float64Array(R);
  for (let i = 0; i < profit.length; i++) {
    if (profit[i]! <= 0) continue;
    let ok = true;
    for (let r = 0; r < R; r++) if (weight[i * R + r]! > cap[r]! + slack[r]!) ok = false;
    if (!ok) continue;
    items.push(i);
    all += profit[i]!;
    for (let r = 0; r < R; r++) sum[r]! += weight[i * R + r]!;
  }
  let everything = true;
  for (let r = 0; r < R; r++) if (sum[r]! > cap[r]! + slack[r]!) everything = false;
  if (everything) return { take: items, value: all, bound: all, exact: true };

  // Surrogate weights: each resource as a share of its capacity.
  const scale = Array.from(cap, (c) => (c > 0 ? 1 / c : 0));
  const m = items.length;
  const sw = new Float64Array(m);
  const p = new Float64Array(m);
  const w = new Float64Array(m * R);
  const order = items
    .map((i) => {
      let s = 0;
      for (let r = 0; r < R; r++) s += weight[i * R + r]! * scale[r]!;
      return { i, s, e: s > 0 ? profit[i]! / s : Number.POSITIVE_INFINITY };
    })
    .sort((a, b) => b.e - a.e);
  order.forEach((o, j) => {
    sw[j] = o.s;
    p[j] = profit[o.i]!;
    for (let r = 0; r < R; r++) w[j * R + r] = weight[o.i * R + r]!;
  });
  let surrogateCap = 0;
  for (let r = 0; r < R; r++) surrogateCap += cap[r]! * scale[r]!;

  // Prefix sums of surrogate weight and profit, for the bound in O(log m).
  const cw = new Float64Array(m + 1);
  const cp = new Float64Array(m + 1);
  for (let j = 0; j < m; j++) {
    cw[j + 1] = cw[j]! + sw[j]!;
    cp[j + 1] = cp[j]! + p[j]!;
  }
  /** Fractional (Dantzig) bound of items j.. in the surrogate capacity left. */
  const upper = (j: number, room: number): number => {
    const limit = cw[j]! + room;
    if (cw[m]! <= limit) return cp[m]! - cp[j]!;
    // The first t > j with cw[t] > limit: items j..t-2 fit whole, item t-1 in part.
    let lo = j + 1;
    let hi = m;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cw[mid]! > limit) hi = mid;
      else lo = mid + 1;
    }
    const t = lo - 1;
    return cp[t]! - cp[j]! + (p[t]! * (limit - cw[t]!)) / sw[t]!;
  };

  const res = Float64Array.from(cap, (c, r) => c + slack[r]!);
  const chosen = new Uint8Array(m);
  let best = 0;
  let bestSet = new Uint8Array(m);
  let nodes = 0;
  let stopped = false;
  const rootBound = upper(0, surrogateCap + 1e-12);
  const visit = (j: number, value: number, room: number): void => {
    if (value > best + EPS) {
      best = value;
      bestSet = chosen.slice();
    }
    if (j >= m || stopped) return;
    if (++nodes > nodeLimit) {
      stopped = true;
      return;
    }
    if (value + upper(j, room) <= best + EPS) return;
    let fitsIn = true;
    for (let r = 0; r < R; r++) if (w[j * R + r]! > res[r]!) fitsIn = false;
    if (fitsIn) {
      for (let r = 0; r < R; r++) res[r]! -= w[j * R + r]!;
      chosen[j] = 1;
      visit(j + 1, value + p[j]!, room - sw[j]!);
      chosen[j] = 0;
      for (let r = 0; r < R; r++) res[r]! += w[j * R + r]!;
    }
    visit(j + 1, value, room);
  };
  visit(0, 0, surrogateCap + 1e-12);
  const take: number[] = [];
  for (let j = 0; j < m; j++) if (bestSet[j]) take.push(order[j]!.i);
  return stopped
    ? { take, value: best, bound: Math.max(best, rootBound), exact: false }
    : { take, value: best, bound: best, exact: true };
}
