/**
 * CPU and memory of every server and of the testbed's containers on it, as host_stats rows: the load the
 * planner checks capacities against. The host's numbers come from /proc over SSH (one session, one
 * `sh -c` line); the containers' from their own daemon (dockerode over the same SSH connection).
 *
 * In the local lab every host is a network namespace on one machine: they share one kernel, so /proc
 * (and nproc) give the machine's numbers on every host, the same on all of them. Only the container rows
 * tell the servers apart there.
 */
import { dockerFor } from '../docker/client.js';
import { LABEL } from '../docker/deploy.js';
import { errorMessage } from '../errors.js';
import type { Host, Inventory } from '../inventory/index.js';
import { type Executor, type SshPool, shellJoin } from '../remote/index.js';
import type { HostStat } from '../state/index.js';
import { MonitorError } from './errors.js';

/** The two /proc/stat samples the host's CPU percentage is taken between. */
export const HOST_CPU_SAMPLE_MS = 500;

/** What one host reading gives (before it becomes a host_stats row). */
export interface HostSample {
  /** Whole host: 100 = every core busy over the sample. */
  cpuPct: number;
  load1: number;
  cpus: number;
  /** Used: MemTotal - MemAvailable. */
  memBytes: number;
  /** MemTotal. */
  memLimitBytes: number;
}

/**
 * The host reading as one `sh -c` line (pure): /proc/loadavg, nproc, MemTotal and MemAvailable, then
 * the `cpu` line of /proc/stat twice, HOST_CPU_SAMPLE_MS apart. Each kind of line is recognisable by its
 * shape, so the parser needs no markers.
 */
export function hostStatsArgv(sampleMs = HOST_CPU_SAMPLE_MS): string[] {
  const cpuLine = shellJoin(['grep', '^cpu ', '/proc/stat']);
  return [
    'sh',
    '-c',
    [
      shellJoin(['cat', '/proc/loadavg']),
      shellJoin(['nproc']),
      shellJoin(['grep', '-E', '^(MemTotal|MemAvailable):', '/proc/meminfo']),
      cpuLine,
      shellJoin(['sleep', (sampleMs / 1000).toFixed(3)]),
      cpuLine,
    ].join('; '),
  ];
}

/** Busy and total jiffies of a `cpu ...` line of /proc/stat (guest time is already in user and nice). */
export function cpuTimes(line: string): { busy: number; total: number } {
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 4 || fields.some((f) => !Number.isFinite(f)))
    throw new MonitorError(`not a cpu line of /proc/stat: ${JSON.stringify(line)}`);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  const total = user + nice + system + idle + iowait + irq + softirq + steal;
  return { busy: total - idle - iowait, total };
}

/** The whole host's busy share between two `cpu` lines, in percent (100 = every core busy). */
export function hostCpuPct(before: string, after: string): number {
  const a = cpuTimes(before);
  const b = cpuTimes(after);
  const total = b.total - a.total;
  if (total <= 0) return 0;
  return Math.min(100, Math.max(0, (100 * (b.busy - a.busy)) / total));
}

/** Parses what hostStatsArgv printed; throws a MonitorError naming what is missing. */
export function parseHostStats(stdout: string): HostSample {
  const lines = stdout.split('\n').map((l) => l.trim());
  const loadavg = lines.find((l) => /^\d+(\.\d+)? \d+(\.\d+)? \d+(\.\d+)? \d+\/\d+ \d+$/.test(l));
  const nproc = lines.find((l) => /^\d+$/.test(l));
  const kb = (key: string) => {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB$`).exec(lines.find((l) => l.startsWith(`${key}:`)) ?? '');
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const memTotal = kb('MemTotal');
  const memAvailable = kb('MemAvailable');
  const cpu = lines.filter((l) => l.startsWith('cpu '));
  const missing = [
    loadavg === undefined && '/proc/loadavg',
    nproc === undefined && 'nproc',
    memTotal === undefined && 'MemTotal',
    memAvailable === undefined && 'MemAvailable',
    cpu.length < 2 && 'two cpu lines of /proc/stat',
  ].filter((m): m is string => typeof m === 'string');
  if (missing.length > 0 || memTotal === undefined || memAvailable === undefined)
    throw new MonitorError(
      `the host statistics lack ${missing.join(', ')}: ${JSON.stringify(stdout.slice(0, 300))}`,
    );
  return {
    cpuPct: hostCpuPct(cpu[0] ?? '', cpu[1] ?? ''),
    load1: Number(loadavg?.split(' ')[0]),
    cpus: Number(nproc),
    memBytes: Math.max(0, memTotal - memAvailable),
    memLimitBytes: memTotal,
  };
}

/** The parts of Docker's stats document the monitor reads (cgroup v1 and v2 both). */
export interface DockerCpuStats {
  cpu_usage?: { total_usage?: number; percpu_usage?: number[] };
  system_cpu_usage?: number;
  online_cpus?: number;
}
export interface DockerStats {
  read?: string;
  cpu_stats?: DockerCpuStats;
  precpu_stats?: DockerCpuStats;
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
}

/** Whether a stats document carries no previous sample (one-shot stats, or the container just started). */
export function precpuEmpty(s: DockerStats): boolean {
  return !s.precpu_stats?.system_cpu_usage || s.precpu_stats.cpu_usage?.total_usage === undefined;
}

/**
 * A container's CPU between two samples, in percent of one CPU (Docker's own formula: its share of all
 * the host's CPU time times the CPUs online); null when the samples do not allow it.
 */
export function containerCpuPct(
  now: DockerCpuStats | undefined,
  before: DockerCpuStats | undefined,
): number | null {
  const used = (now?.cpu_usage?.total_usage ?? Number.NaN) - (before?.cpu_usage?.total_usage ?? Number.NaN);
  const system = (now?.system_cpu_usage ?? Number.NaN) - (before?.system_cpu_usage ?? Number.NaN);
  const cpus = now?.online_cpus || now?.cpu_usage?.percpu_usage?.length || 1;
  if (!Number.isFinite(used) || !Number.isFinite(system) || system <= 0 || used < 0) return null;
  return (used / system) * cpus * 100;
}

/**
 * A container's memory in use: its usage less the page cache it could drop (inactive_file on cgroup v2,
 * total_inactive_file on v1, cache on old daemons), as `docker stats` counts it.
 */
export function containerMemBytes(m: DockerStats['memory_stats']): number | null {
  if (m?.usage === undefined) return null;
  const s = m.stats ?? {};
  const reclaimable = s['inactive_file'] ?? s['total_inactive_file'] ?? s['cache'] ?? 0;
  return reclaimable < m.usage ? m.usage - reclaimable : m.usage;
}

/** One container's row from one stats document (and a second one where the first had no previous sample). */
export function containerStat(
  host: string,
  container: string,
  atMs: number,
  first: DockerStats,
  second?: DockerStats,
): HostStat {
  const last = second ?? first;
  return {
    atMs,
    host,
    container,
    cpuPct: second
      ? containerCpuPct(second.cpu_stats, first.cpu_stats)
      : containerCpuPct(first.cpu_stats, first.precpu_stats),
    memBytes: containerMemBytes(last.memory_stats),
    memLimitBytes: last.memory_stats?.limit ?? null,
    load1: null,
    cpus: null,
  };
}

/** The host's own reading, over SSH. */
export async function readHostStats(exec: Executor, host: Host, atMs: number): Promise<HostStat> {
  const r = await exec.run(hostStatsArgv(), { timeoutMs: 15_000 });
  if (r.code !== 0)
    throw new MonitorError(
      `reading /proc on ${host.name} failed (exit ${r.code}): ${r.stderr.trim().split('\n').at(-1) ?? ''}`,
    );
  const s = parseHostStats(r.stdout);
  return { atMs, host: host.name, container: null, ...s };
}

/** The testbed's containers on a server (by label), each with its stats. */
export async function readContainerStats(
  inv: Inventory,
  pool: SshPool,
  host: Host,
  atMs: number,
): Promise<HostStat[]> {
  const docker = dockerFor(pool, host);
  const list = await docker.listContainers({ filters: { label: [`${LABEL.testbed}=${inv.testbed}`] } });
  return Promise.all(
    list.map(async (c) => {
      const name = (c.Names[0] ?? c.Id).replace(/^\//, '');
      const container = docker.getContainer(c.Id);
      const first = (await container.stats({ stream: false })) as DockerStats;
      const second = precpuEmpty(first)
        ? ((await container.stats({ stream: false })) as DockerStats)
        : undefined;
      return containerStat(host.name, name, atMs, first, second);
    }),
  );
}

export interface ServerStatsResult {
  host: string;
  rows: HostStat[];
  errors: string[];
}

/** A server's host row and container rows; what failed is said, not thrown (the other half still counts). */
export async function serverStats(
  inv: Inventory,
  pool: SshPool,
  exec: Executor,
  host: Host,
  atMs: number,
): Promise<ServerStatsResult> {
  const [own, containers] = await Promise.allSettled([
    readHostStats(exec, host, atMs),
    readContainerStats(inv, pool, host, atMs),
  ]);
  const rows: HostStat[] = [];
  const errors: string[] = [];
  if (own.status === 'fulfilled') rows.push(own.value);
  else errors.push(`host statistics: ${errorMessage(own.reason)}`);
  if (containers.status === 'fulfilled') rows.push(...containers.value);
  else errors.push(`container statistics: ${errorMessage(containers.reason)}`);
  return { host: host.name, rows, errors };
}
