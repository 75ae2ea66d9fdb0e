/**
 * The problem in flat typed arrays, for the loops that run over every option many times (the greedy's
 * passes, the Lagrangian's iterations): users' options one after another, resources per server in rows of R.
 */
import { CAPACITY_EPS } from './check.js';
import type { AssignmentProblem } from './problem.js';

export interface Flat {
  /** Users, servers, base stations, resources. */
  n: number;
  S: number;
  B: number;
  R: number;
  /** User u's options are start[u] .. start[u+1]-1. */
  start: Int32Array;
  bs: Int32Array;
  server: Int32Array;
  value: Float64Array;
  /** Demand of user u for resource r at u*R+r. */
  demand: Float64Array;
  /** Capacity of server s for resource r at s*R+r. */
  capacity: Float64Array;
  maxUsers: Float64Array;
}

export function flatten(problem: AssignmentProblem): Flat {
  const n = problem.users.length;
  const R = problem.resources.length;
  const S = problem.servers.length;
  const B = problem.basestations.length;
  const start = new Int32Array(n + 1);
  for (let u = 0; u < n; u++) start[u + 1] = start[u]! + problem.users[u]!.options.length;
  const m = start[n]!;
  const bs = new Int32Array(m);
  const server = new Int32Array(m);
  const value = new Float64Array(m);
  const demand = new Float64Array(n * R);
  for (let u = 0; u < n; u++) {
    const user = problem.users[u]!;
    for (let r = 0; r < R; r++) demand[u * R + r] = user.demand[r] ?? 0;
    let k = start[u]!;
    for (const o of user.options) {
      bs[k] = o.bs;
      server[k] = o.server;
      value[k] = o.value;
      k++;
    }
  }
  const capacity = new Float64Array(S * R);
  for (let s = 0; s < S; s++) {
    for (let r = 0; r < R; r++) capacity[s * R + r] = problem.servers[s]!.capacity[r] ?? 0;
  }
  const maxUsers = Float64Array.from(problem.basestations, (b) => b.maxUsers);
  return { n, S, B, R, start, bs, server, value, demand, capacity, maxUsers };
}

/**
 * What is left of every server and base station under a partial assignment, and the moves on it. The
 * capacity test allows the same slack as checkAssignment, so whatever fits here passes the check.
 */
export class Residual {
  readonly cap: Float64Array;
  readonly bsLeft: Float64Array;
  private readonly slack: Float64Array;
  readonly choice: Int32Array;

  constructor(readonly f: Flat) {
    this.cap = f.capacity.slice();
    this.bsLeft = f.maxUsers.slice();
    this.slack = f.capacity.map((c) => CAPACITY_EPS * Math.max(1, Math.abs(c)));
    this.choice = new Int32Array(f.n).fill(-1);
  }

  /** Whether user u's flat option k fits in what is left (u itself not counted as placed). */
  fits(u: number, k: number): boolean {
    const f = this.f;
    return this.bsLeft[f.bs[k]!]! >= 1 && this.fitsServer(u, f.server[k]!);
  }

  /** Whether user u's demand fits on server s (u itself not counted as placed). */
  fitsServer(u: number, s: number): boolean {
    const f = this.f;
    const R = f.R;
    const base = s * R;
    for (let r = 0; r < R; r++) {
      if (f.demand[u * R + r]! > this.cap[base + r]! + this.slack[base + r]!) return false;
    }
    return true;
  }

  place(u: number, k: number): void {
    const f = this.f;
    this.bsLeft[f.bs[k]!]! -= 1;
    const R = f.R;
    const base = f.server[k]! * R;
    for (let r = 0; r < R; r++) this.cap[base + r]! -= f.demand[u * R + r]!;
    this.choice[u] = k;
  }

  unplace(u: number): void {
    const k = this.choice[u]!;
    if (k < 0) return;
    const f = this.f;
    this.bsLeft[f.bs[k]!]! += 1;
    const R = f.R;
    const base = f.server[k]! * R;
    for (let r = 0; r < R; r++) this.cap[base + r]! += f.demand[u * R + r]!;
    this.choice[u] = -1;
  }

  /** The objective of the placed users. */
  value(): number {
    let sum = 0;
    for (let u = 0; u < this.f.n; u++) {
      const k = this.choice[u]!;
      if (k >= 0) sum += this.f.value[k]!;
    }
    return sum;
  }

  /** Per user, the option index within the user's options (problem.users[u].options), or -1. */
  toChoice(): number[] {
    return Array.from(this.choice, (k, u) => (k < 0 ? -1 : k - this.f.start[u]!));
  }
}
