/**
 * What each server held at every instant of a run (capacity.csv), from where the run first put each user's
 * service (meta.json runs[].users) and the migrations it made (the state database). Pure.
 *
 * A container counts on a server from its deploy until the end of its migration's final checkpoint (the
 * source's container stops there), and on the destination from the end of its restore (before that the
 * destination holds no running container: a pre-copy moves files, not a process). Between the two the
 * service runs nowhere and counts nowhere. A migration that failed or was rolled back leaves its container
 * where it was. What a container counts is its service's limits (hosts.yml services[].limits), the same
 * numbers the planners reserve: capacity (eq. 3c) is a bound on reservations, not on measured use.
 */
import type { RunServer, RunUser } from './format.js';

/** A migration of the run, as the state database holds it. */
export interface CapacityMigration {
  user: string;
  from: string;
  to: string;
  /** Epoch ms the migration started; its phases' start instants count from it. */
  startedMs: number;
  ok: boolean | null;
  rolledBack: boolean;
  /** Its phases (name, start from the migration's start, duration), for the checkpoint and the restore. */
  phases: readonly { name: string; startMs: number; durationMs: number }[];
  /** The whole migration's duration, when a phase is missing. */
  totalMs: number | null;
}

/** One row of capacity.csv without the run's columns. */
export interface CapacityRow {
  t_ms: number;
  host: string;
  users: number;
  cpus: number;
  mem_mb: number;
  cap_cpus: number;
  cap_mem_mb: number;
}

interface Change {
  atMs: number;
  host: string;
  user: string;
  /** +1: the container starts counting there; -1: it stops. */
  sign: 1 | -1;
}

/** The end of phase `name` (epoch ms), else the migration's end, else its start. */
function phaseEnd(m: CapacityMigration, name: string): number {
  const p = m.phases.filter((x) => x.name === name).at(-1);
  if (p) return m.startedMs + p.startMs + p.durationMs;
  return m.startedMs + (m.totalMs ?? 0);
}

/**
 * The load of every server from the run's start `t0` (epoch ms): a row for each server at t_ms 0, then a
 * row for each server whose load changed, at the instant it changed (changes at the same instant merged).
 * A user without a server (host '') counts nowhere.
 */
export function capacityTimeline(
  servers: readonly RunServer[],
  users: readonly RunUser[],
  migrations: readonly CapacityMigration[],
  t0: number,
): CapacityRow[] {
  const demand = new Map(users.map((u) => [u.user, u]));
  const cap = new Map(servers.map((s) => [s.host, s]));
  const on = new Map<string, Set<string>>(servers.map((s) => [s.host, new Set<string>()]));
  const place = (host: string, user: string, sign: 1 | -1) => {
    const set = on.get(host) ?? new Set<string>();
    on.set(host, set);
    if (sign > 0) set.add(user);
    else set.delete(user);
  };
  for (const u of users) if (u.host) place(u.host, u.user, 1);
  const row = (host: string, tMs: number): CapacityRow => {
    const held = [...(on.get(host) ?? [])];
    const sum = (k: 'cpus' | 'memMB') => held.reduce((a, u) => a + (demand.get(u)?.[k] ?? 0), 0);
    return {
      t_ms: tMs,
      host,
      users: held.length,
      cpus: sum('cpus'),
      mem_mb: sum('memMB'),
      cap_cpus: cap.get(host)?.cpus ?? 0,
      cap_mem_mb: cap.get(host)?.memMB ?? 0,
    };
  };
  const rows: CapacityRow[] = [...on.keys()].map((h) => row(h, 0));
  const changes: Change[] = migrations
    .filter((m) => m.ok === true && !m.rolledBack && m.from !== m.to)
    .flatMap((m) => [
      { atMs: phaseEnd(m, 'checkpoint'), host: m.from, user: m.user, sign: -1 as const },
      {
        atMs: Math.max(phaseEnd(m, 'checkpoint'), phaseEnd(m, 'restore')),
        host: m.to,
        user: m.user,
        sign: 1 as const,
      },
    ])
    // At one instant a container leaves before another arrives: the load in between is never both.
    .sort((a, b) => a.atMs - b.atMs || a.sign - b.sign);
  for (let i = 0; i < changes.length; ) {
    const at = changes[i]?.atMs ?? 0;
    const touched = new Set<string>();
    for (; i < changes.length && changes[i]?.atMs === at; i++) {
      const c = changes[i] as Change;
      place(c.host, c.user, c.sign);
      touched.add(c.host);
    }
    for (const h of touched) rows.push(row(h, Math.max(0, at - t0)));
  }
  return rows;
}

/** A server's load at one instant and its capacity (a capacity.csv row, without run and time). */
export interface ServerLoad {
  host: string;
  users: number;
  cpus: number;
  memMB: number;
  capCpus: number;
  capMemMB: number;
}

/** Per server, the most it held at any instant and whether that stayed within its capacity. */
export interface CapacityPeak {
  host: string;
  maxUsers: number;
  maxCpus: number;
  maxMemMB: number;
  capCpus: number;
  capMemMB: number;
  /** Every instant within both capacities. */
  respected: boolean;
}

/** Lets a sum within rounding of a capacity count as fitting (as baselines.ts does). */
const EPS = 1e-9;

/** The peaks of a run's (or a planner's) capacity rows, per server in the order they first appear. */
export function capacityPeaks(rows: readonly ServerLoad[]): CapacityPeak[] {
  const peaks = new Map<string, CapacityPeak>();
  for (const r of rows) {
    const p = peaks.get(r.host) ?? {
      host: r.host,
      maxUsers: 0,
      maxCpus: 0,
      maxMemMB: 0,
      capCpus: r.capCpus,
      capMemMB: r.capMemMB,
      respected: true,
    };
    p.maxUsers = Math.max(p.maxUsers, r.users);
    p.maxCpus = Math.max(p.maxCpus, r.cpus);
    p.maxMemMB = Math.max(p.maxMemMB, r.memMB);
    if (r.cpus > r.capCpus + EPS || r.memMB > r.capMemMB + EPS) p.respected = false;
    peaks.set(r.host, p);
  }
  return [...peaks.values()];
}
