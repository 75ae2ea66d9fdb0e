/**
 * Making the problem smaller without losing its optimum, before a MIP solver sees it.
 *
 * presolve (exact, needs nothing):
 * - an option whose server cannot hold the user's demand even empty, or whose base station takes no
 *   user, goes; of two options with the same (base station, server) the lower value goes;
 * - a user with one option left is fixed to it (its demand leaves the capacities);
 * - dominance. Demands belong to the user, not the option, so an option's cost to the others is only
 *   which base station and which server it occupies. A row is *free* when every user that could use
 *   it fits in it together: it can never bind. Option d dominates option o of the same user when
 *   value(d) >= value(o) and d's base station is o's or free and d's server is o's or free: moving the
 *   user from o to d never breaks a row and never loses value. Options are dropped only for a dominator
 *   that stays (the best option of the user on free rows only; per base station the best on a free
 *   server; per server the best on a free base station), so every assignment maps to one at least as
 *   good in the smaller problem, and the smaller problem's upper bounds hold for the original;
 * - repeated until nothing changes (dropping options frees rows).
 *
 * Reduced-cost fixing (needs an incumbent z and a Lagrangian bound L with its reduced values rv): forcing
 * user u onto option k costs at least max_k' rv(u,k') - rv(u,k) against L, so when
 * L - (max rv(u) - rv(u,k)) < z, no assignment using k beats z: k goes. The incumbent's own options
 * stay (with a tolerance), so the optimum of the smaller problem is the original's, and its bound too.
 */
import { CAPACITY_EPS, fits } from './check.js';
import type { Flat } from './flat.js';
import type { AssignmentProblem, ProblemOption, ProblemUser } from './problem.js';

export interface Reduction {
  /** The problem left: the users not fixed, with the options kept, and what the fixed users leave. */
  problem: AssignmentProblem;
  /** Original index of each user left. */
  users: number[];
  /** Per user left, the original index of each option kept. */
  options: number[][];
  /** Per original user, the option it is fixed to, or -1. */
  fixed: Int32Array;
  /** The fixed users' values. */
  fixedValue: number;
  /** Set when presolve proved that no assignment exists. */
  infeasible?: string;
}

/** The original choice from a choice of the problem left. */
export function expand(red: Reduction, choice: readonly number[]): number[] {
  const out = Array.from(red.fixed);
  for (let i = 0; i < red.users.length; i++) {
    out[red.users[i]!] = red.options[i]![choice[i]!] ?? -1;
  }
  return out;
}

/** The choice of the problem left from an original choice, or null if it uses a dropped option. */
export function restrict(red: Reduction, choice: readonly number[]): number[] | null {
  const out: number[] = [];
  for (let i = 0; i < red.users.length; i++) {
    const at = red.options[i]!.indexOf(choice[red.users[i]!]!);
    if (at < 0) return null;
    out.push(at);
  }
  for (let u = 0; u < red.fixed.length; u++) {
    if (red.fixed[u]! >= 0 && choice[u] !== red.fixed[u]) return null;
  }
  return out;
}

/** The reduction `inner` of `outer.problem`, as one reduction of the original. */
export function compose(outer: Reduction, inner: Reduction): Reduction {
  const fixed = Array.from(outer.fixed);
  for (let i = 0; i < outer.users.length; i++) {
    const f = inner.fixed[i]!;
    if (f >= 0) fixed[outer.users[i]!] = outer.options[i]![f]!;
  }
  return {
    problem: inner.problem,
    users: inner.users.map((i) => outer.users[i]!),
    options: inner.options.map((os, j) => os.map((o) => outer.options[inner.users[j]!]![o]!)),
    fixed: Int32Array.from(fixed),
    fixedValue: outer.fixedValue + inner.fixedValue,
    ...(inner.infeasible !== undefined ? { infeasible: inner.infeasible } : {}),
  };
}

/** The identity reduction (nothing dropped). */
export function identity(problem: AssignmentProblem): Reduction {
  return {
    problem,
    users: problem.users.map((_, u) => u),
    options: problem.users.map((user) => user.options.map((_, o) => o)),
    fixed: new Int32Array(problem.users.length).fill(-1),
    fixedValue: 0,
  };
}

/**
 * Exact presolve (see the file's comment). `keep(u, o)`, when given, drops the options it rejects first
 * (reduced-cost fixing).
 */
export function presolve(problem: AssignmentProblem, keep?: (u: number, o: number) => boolean): Reduction {
  const { users, servers, basestations, resources } = problem;
  const n = users.length;
  const R = resources.length;
  const cap = servers.map((s) => resources.map((_, r) => s.capacity[r] ?? 0));
  const room = basestations.map((b) => b.maxUsers);
  const fixed = new Int32Array(n).fill(-1);
  let fixedValue = 0;
  const fitsAlone = (user: ProblemUser, o: ProblemOption) =>
    room[o.bs]! >= 1 && cap[o.server]!.every((c, r) => fits(user.demand[r] ?? 0, c));

  // Per user the options alive: best of each (bs, server) pair, fitting alone.
  const alive: number[][] = users.map((user, u) => {
    const byPair = new Map<number, number>();
    user.options.forEach((o, i) => {
      if (keep !== undefined && !keep(u, i)) return;
      if (!fitsAlone(user, o)) return;
      const key = o.bs * servers.length + o.server;
      const prev = byPair.get(key);
      if (prev === undefined || o.value > user.options[prev]!.value) byPair.set(key, i);
    });
    return [...byPair.values()].sort((a, b) => a - b);
  });

  const fail = (why: string): Reduction => ({ ...identity(problem), infeasible: why });
  for (let round = 0; ; round++) {
    let changed = false;
    // Fix users with one option.
    for (let u = 0; u < n; u++) {
      if (fixed[u]! >= 0) continue;
      const user = users[u]!;
      const os = alive[u]!;
      if (os.length === 0) {
        return fail(
          user.options.length === 0
            ? `user ${user.id} has no option (no base station it can decode)`
            : `user ${user.id}: none of its options fits (its demand ${fmtDemand(problem, user)} on what the other users must take)`,
        );
      }
      if (os.length === 1) {
        const o = user.options[os[0]!]!;
        fixed[u] = os[0]!;
        fixedValue += o.value;
        room[o.bs]! -= 1;
        for (let r = 0; r < R; r++) cap[o.server]![r]! -= user.demand[r] ?? 0;
        changed = true;
      }
    }
    for (let s = 0; s < servers.length; s++) {
      for (let r = 0; r < R; r++) {
        if (cap[s]![r]! < -CAPACITY_EPS * Math.max(1, servers[s]!.capacity[r] ?? 0)) {
          return fail(
            `the users that can only use server ${servers[s]!.id} need more ${resources[r]} than it has`,
          );
        }
      }
    }
    for (let b = 0; b < basestations.length; b++) {
      if (room[b]! < 0) {
        return fail(
          `more users can only use base station ${basestations[b]!.id} than its maxUsers ${basestations[b]!.maxUsers}`,
        );
      }
    }
    // Free rows: all who could use them fit.
    const need = servers.map(() => new Float64Array(R));
    const count = new Float64Array(basestations.length);
    for (let u = 0; u < n; u++) {
      if (fixed[u]! >= 0) continue;
      const user = users[u]!;
      const seenS = new Set<number>();
      const seenB = new Set<number>();
      for (const i of alive[u]!) {
        const o = user.options[i]!;
        if (!seenS.has(o.server)) {
          seenS.add(o.server);
          for (let r = 0; r < R; r++) need[o.server]![r]! += user.demand[r] ?? 0;
        }
        if (!seenB.has(o.bs)) {
          seenB.add(o.bs);
          count[o.bs]! += 1;
        }
      }
    }
    const serverFree = cap.map((c, s) => c.every((x, r) => fits(need[s]![r]!, x)));
    const bsFree = room.map((x, b) => count[b]! <= x);
    // Drop what no longer fits alone, and what is dominated.
    for (let u = 0; u < n; u++) {
      if (fixed[u]! >= 0) continue;
      const user = users[u]!;
      const os = alive[u]!.filter((i) => fitsAlone(user, user.options[i]!));
      const better = (a: number, b: number) => {
        const va = user.options[a]!.value;
        const vb = user.options[b]!.value;
        return va > vb || (va === vb && a < b);
      };
      let top = -1;
      const topOnBs = new Map<number, number>();
      const topOnServer = new Map<number, number>();
      for (const i of os) {
        const o = user.options[i]!;
        const sf = serverFree[o.server]!;
        const bf = bsFree[o.bs]!;
        if (sf && bf && (top < 0 || better(i, top))) top = i;
        if (sf) {
          const t = topOnBs.get(o.bs);
          if (t === undefined || better(i, t)) topOnBs.set(o.bs, i);
        }
        if (bf) {
          const t = topOnServer.get(o.server);
          if (t === undefined || better(i, t)) topOnServer.set(o.server, i);
        }
      }
      const kept = os.filter((i) => {
        const o = user.options[i]!;
        const dominators = [top, topOnBs.get(o.bs) ?? -1, topOnServer.get(o.server) ?? -1];
        return !dominators.some((d) => d >= 0 && d !== i && user.options[d]!.value >= o.value);
      });
      if (kept.length !== alive[u]!.length) {
        alive[u] = kept;
        changed = true;
      }
    }
    if (!changed || round > 50) break;
  }

  const left: number[] = [];
  for (let u = 0; u < n; u++) if (fixed[u]! < 0) left.push(u);
  return {
    problem: {
      resources,
      servers: servers.map((s, i) => ({ id: s.id, capacity: cap[i]!.map((c) => Math.max(0, c)) })),
      basestations: basestations.map((b, i) => ({ id: b.id, maxUsers: room[i]! })),
      users: left.map((u) => {
        const user = users[u]!;
        return { id: user.id, demand: user.demand, options: alive[u]!.map((i) => user.options[i]!) };
      }),
    },
    users: left,
    options: left.map((u) => alive[u]!),
    fixed,
    fixedValue,
  };
}

/**
 * Reduced-cost fixing on the flat form of a problem: keeps option o of user u unless using it provably
 * cannot beat `incumbent` (see the file's comment). `bound` and `reduced` come from one set of prices.
 */
export function costFixing(
  f: Flat,
  bound: number,
  reduced: Float64Array,
  incumbent: number,
): (u: number, o: number) => boolean {
  const tol = 1e-7 * Math.max(1, Math.abs(incumbent));
  const top = new Float64Array(f.n);
  for (let u = 0; u < f.n; u++) {
    let t = Number.NEGATIVE_INFINITY;
    for (let k = f.start[u]!; k < f.start[u + 1]!; k++) t = Math.max(t, reduced[k]!);
    top[u] = t;
  }
  return (u, o) => bound - (top[u]! - reduced[f.start[u]! + o]!) >= incumbent - tol;
}

function fmtDemand(problem: AssignmentProblem, user: ProblemUser): string {
  return problem.resources.map((r, i) => `${r} ${user.demand[i] ?? 0}`).join(', ');
}
