/**
 * Why a problem has no assignment, found before any solver runs, in words a user can act on:
 * - users with no option at all (no base station they can decode), or none whose server could hold
 *   their demand even empty;
 * - base stations: a set of users that can only reach base stations whose maxUsers add up to fewer than
 *   them (Hall's condition, from a max-flow: users -> base stations -> maxUsers);
 * - capacity, per resource: a set of users whose demands add up to more than the servers they can reach
 *   have free, even if a demand could be split across servers (max-flow: demand -> servers -> capacity).
 * These are necessary conditions only: a problem that passes them can still be infeasible (demands that
 * do not pack, or rows that conflict), which the MIP solver then proves.
 */
import { fits } from './check.js';
import type { AssignmentProblem, ProblemUser } from './problem.js';

/** A reason the problem is infeasible, or undefined when these checks find none. */
export function explainInfeasible(problem: AssignmentProblem): string | undefined {
  const { users, servers, basestations, resources } = problem;
  const reasons: string[] = [];
  const none = users.filter((u) => u.options.length === 0);
  if (none.length > 0) reasons.push(`${names(none)} can decode no base station (no option)`);
  // Options that could hold their user alone.
  const usable = users.map((user) =>
    user.options.filter(
      (o) =>
        (basestations[o.bs]?.maxUsers ?? 0) >= 1 &&
        resources.every((_, r) => fits(user.demand[r] ?? 0, servers[o.server]?.capacity[r] ?? 0)),
    ),
  );
  const stuck = users.filter((u, i) => u.options.length > 0 && usable[i]!.length === 0);
  for (const user of stuck.slice(0, 3)) {
    const reach = [...new Set(user.options.map((o) => o.server))].map((s) => servers[s]!);
    reasons.push(
      `user ${user.id} needs ${amounts(resources, user.demand)} but no server it can reach has that much free ` +
        `(${reach.map((s) => `${s.id}: ${amounts(resources, s.capacity)}`).join('; ')})`,
    );
  }
  if (stuck.length > 3) reasons.push(`and ${stuck.length - 3} more users like that`);
  if (reasons.length > 0) return reasons.join('; ');

  const n = users.length;
  // Base stations: source -> user (1) -> base station (inf) -> sink (maxUsers).
  {
    const B = basestations.length;
    const g = new FlowGraph(n + B + 2);
    const src = n + B;
    const sink = src + 1;
    for (let u = 0; u < n; u++) {
      g.add(src, u, 1);
      for (const b of new Set(usable[u]!.map((o) => o.bs))) g.add(u, n + b, Number.POSITIVE_INFINITY);
    }
    for (let b = 0; b < B; b++) g.add(n + b, sink, basestations[b]!.maxUsers);
    if (g.maxFlow(src, sink) < n - 1e-9) {
      const side = g.sourceSide(src);
      const group = users.filter((_, u) => side[u]);
      const reach = basestations.filter((_, b) => side[n + b]);
      const room = reach.reduce((a, b) => a + b.maxUsers, 0);
      reasons.push(
        `${names(group)} (${group.length}) can only use base station${reach.length === 1 ? '' : 's'} ` +
          `${reach.map((b) => b.id).join(', ')}, which take${reach.length === 1 ? 's' : ''} ${room} in all (maxUsers)`,
      );
    }
  }
  // Capacity of each resource: source -> user (demand) -> server (inf) -> sink (capacity).
  for (let r = 0; r < resources.length; r++) {
    const S = servers.length;
    const g = new FlowGraph(n + S + 2);
    const src = n + S;
    const sink = src + 1;
    let total = 0;
    for (let u = 0; u < n; u++) {
      const d = users[u]!.demand[r] ?? 0;
      if (d <= 0) continue;
      total += d;
      g.add(src, u, d);
      for (const s of new Set(usable[u]!.map((o) => o.server))) g.add(u, n + s, Number.POSITIVE_INFINITY);
    }
    for (let s = 0; s < S; s++) g.add(n + s, sink, Math.max(0, servers[s]!.capacity[r] ?? 0));
    const flow = g.maxFlow(src, sink);
    if (!fits(total, flow)) {
      const side = g.sourceSide(src);
      const group = users.filter((u, i) => side[i] && (u.demand[r] ?? 0) > 0);
      const reach = servers.filter((_, s) => side[n + s]);
      const need = group.reduce((a, u) => a + (u.demand[r] ?? 0), 0);
      const free = reach.reduce((a, s) => a + (s.capacity[r] ?? 0), 0);
      reasons.push(
        `${names(group)} (${group.length}) need ${resources[r]} ${round(need)} in all but can only use ` +
          `server${reach.length === 1 ? '' : 's'} ${reach.map((s) => s.id).join(', ')} with ${round(free)} free`,
      );
    }
  }
  return reasons.length > 0 ? reasons.join('; ') : undefined;
}

function names(users: ProblemUser[]): string {
  const shown = users.slice(0, 5).map((u) => u.id);
  const word = users.length === 1 ? 'user' : 'users';
  return `${word} ${shown.join(', ')}${users.length > 5 ? ', ...' : ''}`;
}

function amounts(resources: string[], xs: number[]): string {
  return resources.map((r, i) => `${r} ${round(xs[i] ?? 0)}`).join(', ');
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Dinic's max-flow on a small graph with real capacities. */
class FlowGraph {
  private readonly head: number[][];
  private readonly to: number[] = [];
  private readonly cap: number[] = [];

  constructor(readonly size: number) {
    this.head = Array.from({ length: size }, () => []);
  }

  add(a: number, b: number, c: number): void {
    this.head[a]!.push(this.to.length);
    this.to.push(b);
    this.cap.push(c);
    this.head[b]!.push(this.to.length);
    this.to.push(a);
    this.cap.push(0);
  }

  maxFlow(s: number, t: number): number {
    let flow = 0;
    for (;;) {
      const level = this.levels(s);
      if (level[t]! < 0) return flow;
      const next = new Array<number>(this.size).fill(0);
      for (;;) {
        const f = this.push(s, t, Number.POSITIVE_INFINITY, level, next);
        if (f <= 1e-12) break;
        flow += f;
      }
    }
  }

  /** Nodes reachable from s in the residual graph (after maxFlow: the source side of a minimum cut). */
  sourceSide(s: number): boolean[] {
    return this.levels(s).map((l) => l >= 0);
  }

  private levels(s: number): number[] {
    const level = new Array<number>(this.size).fill(-1);
    level[s] = 0;
    const queue = [s];
    for (let i = 0; i < queue.length; i++) {
      const a = queue[i]!;
      for (const e of this.head[a]!) {
        const b = this.to[e]!;
        if (level[b]! < 0 && this.cap[e]! > 1e-12) {
          level[b] = level[a]! + 1;
          queue.push(b);
        }
      }
    }
    return level;
  }

  private push(a: number, t: number, limit: number, level: number[], next: number[]): number {
    if (a === t) return limit;
    const edges = this.head[a]!;
    for (; next[a]! < edges.length; next[a]!++) {
      const e = edges[next[a]!]!;
      const b = this.to[e]!;
      if (this.cap[e]! <= 1e-12 || level[b] !== level[a]! + 1) continue;
      const f = this.push(b, t, Math.min(limit, this.cap[e]!), level, next);
      if (f > 1e-12) {
        this.cap[e]! -= f;
        this.cap[e ^ 1]! += f;
        return f;
      }
    }
    return 0;
  }
}
