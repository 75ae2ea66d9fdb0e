/**
 * The monitor's snapshot: the newest of everything in the state database, in the shape the planner reads.
 * Per user: where it is, its RSSI to every base station, its recent tasks (E2E, processing and transmission
 * samples, counts over the window: n_u); per server: its CPU score, load, and what the placements leave
 * free of its capacity; per probed pair: the round trip measured, the one the inventory gives, the
 * bandwidth, and how the pair's latency is emulated.
 */
import type { Inventory, Service } from '../inventory/index.js';
import { getService, serverHosts } from '../inventory/index.js';
import type { HostFact, HostStat, Placement, StateDb, TaskRecord } from '../state/index.js';
import { median, quantile } from '../util/stats.js';
import { probePairs } from './links.js';

/** What the planner's n_u counts over, by default: the tasks of the last 30 s. */
export const DEFAULT_WINDOW_S = 30;
/** At most this many samples per user in a snapshot (the newest). */
export const MAX_SAMPLES = 200;

export interface TaskSample {
  atMs: number;
  bs: string | null;
  host: string | null;
  e2eMs: number;
  procMs: number | null;
  txMs: number | null;
}

export interface TaskSummary {
  /** Tasks sent in the window. */
  count: number;
  ok: number;
  failed: number;
  /** count / window: the rate the planner multiplies a delay gain by. */
  perSec: number;
  e2eMs: { median: number | null; p95: number | null };
  procMs: { median: number | null };
  txMs: { median: number | null };
  /** The newest task's send time (epoch ms), in the window or not; null when the user never sent one. */
  lastAtMs: number | null;
}

export interface UserSnapshot {
  user: string;
  service: string;
  /** The agent's newest report, null when there is none. */
  report: {
    atMs: number;
    ageS: number;
    position: [number, number];
    bs: string | null;
    rssi: Record<string, number>;
    rateBps: number | null;
  } | null;
  placement: { host: string; container: string; address: string; port: number; sinceMs: number } | null;
  tasks: TaskSummary;
  /** The window's answered tasks, newest last (at most MAX_SAMPLES). */
  samples: TaskSample[];
}

export interface ServerSnapshot {
  host: string;
  role: string;
  /** The CPU benchmark score (C_s), measured by hosts check. */
  cpuScore: number | null;
  capacity: { cpus: number; memMB: number };
  /** The newest host reading: 1-minute load, busy share of all cores (%), memory. */
  load1: number | null;
  cpuPct: number | null;
  cpus: number | null;
  memBytes: number | null;
  memTotalBytes: number | null;
  statsAtMs: number | null;
  containers: { name: string; cpuPct: number | null; memBytes: number | null }[];
  /** The users whose services the state database places here. */
  users: string[];
  /** What those services take of the capacity: their limits, or what they use where they have none. */
  allocated: { cpus: number; memMB: number };
  free: { cpus: number; memMB: number };
}

export interface LinkSnapshot {
  from: string;
  to: string;
  /** Median of the newest probe's round trips (ms); null when it got no answer or never ran. */
  rttMs: number | null;
  /** What hosts.yml gives (twice the route's one-way latency). */
  expectedRttMs: number;
  atMs: number | null;
  method: string | null;
  bandwidthBps: number | null;
  bandwidthSource: 'inventory';
  /** How the latency into each end is emulated: netem, nfqueue, both ("netem/nfqueue"), or null. */
  latencyMethod: string | null;
  /** true when both ends emulate it, false when one does not, null when not known (not provisioned). */
  latencyEmulated: boolean | null;
}

export interface MonitorSnapshot {
  atMs: number;
  windowS: number;
  users: UserSnapshot[];
  servers: ServerSnapshot[];
  links: LinkSnapshot[];
}

/** The window's counts and delay summaries of a user's tasks (pure). */
export function summariseTasks(
  tasks: readonly TaskRecord[],
  windowS: number,
  lastAtMs: number | null,
): { summary: TaskSummary; samples: TaskSample[] } {
  const ok = tasks.filter((t) => t.ok && t.e2eMs !== null);
  const samples = ok.map((t) => ({
    atMs: t.sentMs,
    bs: t.bs,
    host: t.host,
    e2eMs: t.e2eMs as number,
    procMs: t.procMs,
    txMs: t.txMs,
  }));
  const of = (pick: (s: TaskSample) => number | null) =>
    samples.map(pick).filter((v): v is number => v !== null);
  const e2e = of((s) => s.e2eMs);
  const round = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
  return {
    summary: {
      count: tasks.length,
      ok: ok.length,
      failed: tasks.length - ok.length,
      perSec: windowS > 0 ? Math.round((tasks.length / windowS) * 1000) / 1000 : 0,
      e2eMs: { median: round(median(e2e)), p95: round(quantile(e2e, 0.95)) },
      procMs: { median: round(median(of((s) => s.procMs))) },
      txMs: { median: round(median(of((s) => s.txMs))) },
      lastAtMs,
    },
    samples: samples.slice(-MAX_SAMPLES),
  };
}

/**
 * What the services placed on a server take (pure): a service's limits where hosts.yml gives them, else
 * what its container uses now (CPU% / 100 cores, memory), else nothing.
 */
export function allocation(
  placements: readonly Placement[],
  services: readonly Service[],
  containers: readonly HostStat[],
): { cpus: number; memMB: number } {
  let cpus = 0;
  let memMB = 0;
  for (const p of placements) {
    const limits = services.find((s) => s.name === p.service)?.limits;
    if (limits) {
      cpus += limits.cpus;
      memMB += limits.memMB;
      continue;
    }
    const used = containers.find((c) => c.container === p.container);
    cpus += (used?.cpuPct ?? 0) / 100;
    memMB += (used?.memBytes ?? 0) / 2 ** 20;
  }
  return { cpus: Math.round(cpus * 1000) / 1000, memMB: Math.round(memMB) };
}

/** How a pair's latency is emulated, from what provision recorded for its two ends (pure). */
export function pairLatency(
  a: HostFact | undefined,
  b: HostFact | undefined,
): { latencyMethod: string | null; latencyEmulated: boolean | null } {
  const ends = [a, b];
  if (ends.some((f) => f?.latencyEmulated === false)) return { latencyMethod: null, latencyEmulated: false };
  if (ends.some((f) => f?.latencyEmulated == null)) return { latencyMethod: null, latencyEmulated: null };
  const methods = [...new Set(ends.map((f) => f?.latencyMethod ?? '?'))];
  return { latencyMethod: methods.join('/'), latencyEmulated: true };
}

/** The snapshot at `atMs`, from the state database and the inventory. */
export function buildSnapshot(
  inv: Inventory,
  state: StateDb,
  options: { atMs: number; windowS?: number },
): MonitorSnapshot {
  const windowS = options.windowS ?? DEFAULT_WINDOW_S;
  const since = options.atMs - windowS * 1000;
  const placements = state.placements.list();
  const users: UserSnapshot[] = inv.users.map((u) => {
    const report = state.userReports.latest(u.name);
    const p = placements.find((x) => x.user === u.name);
    const lastAtMs = state.tasks.lastSentMs(u.name);
    const { summary, samples } = summariseTasks(state.tasks.forUser(u.name, since), windowS, lastAtMs);
    return {
      user: u.name,
      service: p?.service ?? u.service,
      report: report
        ? {
            atMs: Math.round(report.atMs),
            ageS: Math.round((options.atMs - report.atMs) / 100) / 10,
            position: report.position,
            bs: report.bs,
            rssi: report.rssi,
            rateBps: report.rateBps,
          }
        : null,
      placement: p
        ? { host: p.host, container: p.container, address: p.address, port: p.port, sinceMs: p.sinceMs }
        : null,
      tasks: summary,
      samples,
    };
  });
  const servers: ServerSnapshot[] = serverHosts(inv).map((h) => {
    const fact = state.hostFacts.get(h.name);
    const own = state.hostStats.latestHost(h.name);
    const containers = state.hostStats.latestContainers(h.name);
    const here = placements.filter((p) => p.host === h.name);
    const capacity = h.capacity ?? { cpus: 0, memMB: 0 };
    const allocated = allocation(
      here,
      here.map((p) => getService(inv, p.service)),
      containers,
    );
    return {
      host: h.name,
      role: h.role,
      cpuScore: fact?.cpuScore ?? null,
      capacity: { cpus: capacity.cpus, memMB: capacity.memMB },
      load1: own?.load1 ?? null,
      cpuPct: own?.cpuPct === null || own?.cpuPct === undefined ? null : Math.round(own.cpuPct * 10) / 10,
      cpus: own?.cpus ?? null,
      memBytes: own?.memBytes ?? null,
      memTotalBytes: own?.memLimitBytes ?? null,
      statsAtMs: own ? Math.round(own.atMs) : null,
      containers: containers.map((c) => ({
        name: c.container ?? '',
        cpuPct: c.cpuPct === null ? null : Math.round(c.cpuPct * 10) / 10,
        memBytes: c.memBytes,
      })),
      users: here.map((p) => p.user),
      allocated,
      free: {
        cpus: Math.round((capacity.cpus - allocated.cpus) * 1000) / 1000,
        memMB: capacity.memMB - allocated.memMB,
      },
    };
  });
  const links: LinkSnapshot[] = probePairs(inv).map((pair) => {
    const m = state.links.latest(pair.from, pair.to);
    return {
      from: pair.from,
      to: pair.to,
      rttMs: m?.rttMs ?? null,
      expectedRttMs: pair.expectedRttMs,
      atMs: m ? Math.round(m.atMs) : null,
      method: m?.method ?? null,
      bandwidthBps: Number.isFinite(pair.bandwidthBps) ? pair.bandwidthBps : null,
      bandwidthSource: 'inventory',
      ...pairLatency(state.hostFacts.get(pair.from), state.hostFacts.get(pair.to)),
    };
  });
  return { atMs: Math.round(options.atMs), windowS, users, servers, links };
}
