/**
 * `edgectl monitor`: fills the state database with what the planner reads, and exports the snapshot.
 *
 * A round reads every server's CPU and memory (its own and its containers') and probes every pair of the
 * data network the planner needs (AP to server, server to server). `--once` takes one round. Otherwise the
 * monitor also starts the users' agents (`edgectl mu run` on their machines, over SSH), which report their
 * positions, RSSI, tasks, handovers and gaps as they happen, and takes a round every interval until the
 * duration is over or it is interrupted; then it stops the agents (each puts back what it changed).
 *
 * Every host gets one long-lived shell for the whole run: a new SSH session costs the host's login shell
 * (0.1-2 s on a fresh machine), a round must not.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.js';
import { getHost, type Host, type Inventory, serverHosts } from '../inventory/index.js';
import { type CheckpointProbe, probeCheckpoints } from '../migration/probe.js';
import { type AgentSession, startAgent } from '../mu/controller.js';
import { ShellExecutor, type SshPool } from '../remote/index.js';
import type { StateDb } from '../state/index.js';
import { type LinkProbeResult, probeLinks, probePairs } from './links.js';
import { buildSnapshot, DEFAULT_WINDOW_S, type MonitorSnapshot } from './snapshot.js';
import { serverStats } from './stats.js';

export const DEFAULT_INTERVAL_S = 5;

export interface MonitorOptions {
  /** One round, no agents. */
  once?: boolean;
  /** Stop after this long (ms); undefined: until the signal. */
  durationMs?: number;
  /** Between the starts of two rounds. */
  intervalMs?: number;
  /** The snapshot's task window (s). */
  windowS?: number;
  /** The users whose agents to start (default every user of hosts.yml); [] for none. */
  users?: string[];
  experimentId?: number | null;
  /**
   * Also take two probe checkpoints of every placed container (of the users monitored) once, at the
   * start: S_pre and S_delta for the planner. Each freezes the service while CRIU dumps it.
   */
  checkpoints?: boolean;
  signal?: AbortSignal;
  onEvent?: (e: MonitorEvent) => void;
}

export type MonitorEvent =
  | { type: 'agent'; user: string; host: string; bs: string | null }
  | { type: 'round'; n: number; hostStats: number; links: number; ms: number; errors: string[] }
  | { type: 'probe'; user: string; host: string; probe?: CheckpointProbe; error?: string }
  | { type: 'stopping'; reason: string };

export interface AgentSummary {
  user: string;
  host: string;
  started: boolean;
  error?: string;
  positions: number;
  tasks: number;
  handovers: number;
  gaps: number;
  /** Where it was at the end. */
  bs: string | null;
  /** Why it ended, as it said (null when it ended without a word). */
  ended: string | null;
  /** What was put back when it ended. */
  restored: string[];
}

export interface MonitorResult {
  startedMs: number;
  durationMs: number;
  /** once, duration (it ran out) or interrupted (Ctrl+C, SIGTERM). */
  ended: 'once' | 'duration' | 'interrupted';
  rounds: number;
  /** Rows this run stored, per table. */
  stored: {
    userReports: number;
    tasks: number;
    handovers: number;
    gaps: number;
    hostStats: number;
    linkProbes: number;
    checkpointProbes: number;
  };
  agents: AgentSummary[];
  /** The probe checkpoints taken (--checkpoints). */
  probes: CheckpointProbe[];
  /** The last round's probes, as measured (with each pair's loss and minimum). */
  links: LinkProbeResult[];
  snapshot: MonitorSnapshot;
  warnings: string[];
}

const now = () => performance.timeOrigin + performance.now();

/** One round over every server and probed pair, recorded; what failed is said, not thrown. */
async function round(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  exec: (h: Host) => ShellExecutor,
): Promise<{ hostStats: number; links: LinkProbeResult[]; errors: string[] }> {
  const atMs = now();
  const [servers, links] = await Promise.all([
    Promise.all(serverHosts(inv).map((h) => serverStats(inv, pool, exec(h), h, atMs))),
    probeLinks(inv, exec, probePairs(inv), atMs),
  ]);
  const rows = servers.flatMap((s) => s.rows);
  state.hostStats.insert(rows);
  for (const l of links) {
    const { expectedRttMs: _e, rttMinMs: _m, lossPct: _l, error: _x, ...m } = l;
    state.links.insert(m);
  }
  const errors = [
    ...servers.flatMap((s) => s.errors.map((e) => `${s.host}: ${e}`)),
    ...links.filter((l) => l.error).map((l) => `link ${l.fromHost} -> ${l.toHost}: ${l.error}`),
  ];
  return { hostStats: rows.length, links, errors };
}

export async function runMonitor(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  options: MonitorOptions = {},
): Promise<MonitorResult> {
  const startedMs = now();
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_S * 1000;
  const shells = new Map<string, ShellExecutor>();
  const exec = (h: Host) => {
    let s = shells.get(h.name);
    if (!s) {
      s = new ShellExecutor(pool, h);
      shells.set(h.name, s);
    }
    return s;
  };
  const warnings: string[] = [];
  const stored = {
    userReports: 0,
    tasks: 0,
    handovers: 0,
    gaps: 0,
    hostStats: 0,
    linkProbes: 0,
    checkpointProbes: 0,
  };
  const probes: CheckpointProbe[] = [];
  const probeAll = async (users: readonly string[]) => {
    for (const p of state.placements.list()) {
      if (!users.includes(p.user) || signal?.aborted) continue;
      try {
        const r = await probeCheckpoints(inv, pool, p, signal ? { signal } : {});
        probes.push(r);
        stored.checkpointProbes++;
        const rec = (kind: string, bytes: number, ms: number) =>
          state.checkpoints.insert({
            migrationId: null,
            atMs: r.atMs,
            host: r.host,
            user: r.user,
            kind,
            bytes,
            ms,
          });
        rec('probe-pre', r.preBytes, r.checkpointMs[0]);
        rec('probe-final', r.finalBytes, r.checkpointMs[1]);
        rec('probe-delta', r.deltaBytes, 0);
        options.onEvent?.({ type: 'probe', user: p.user, host: p.host, probe: r });
      } catch (err) {
        warnings.push(`${p.user}: probe checkpoints on ${p.host}: ${errorMessage(err)}`);
        options.onEvent?.({ type: 'probe', user: p.user, host: p.host, error: errorMessage(err) });
      }
    }
  };
  const sessions: { user: string; host: string; session?: AgentSession; error?: string }[] = [];
  let rounds = 0;
  let lastLinks: LinkProbeResult[] = [];
  let ended: MonitorResult['ended'] = options.once ? 'once' : 'duration';
  const signal = options.signal;

  const takeRound = async () => {
    const t0 = now();
    const r = await round(inv, pool, state, exec);
    rounds++;
    stored.hostStats += r.hostStats;
    stored.linkProbes += r.links.length;
    lastLinks = r.links;
    options.onEvent?.({
      type: 'round',
      n: rounds,
      hostStats: r.hostStats,
      links: r.links.filter((l) => l.rttMs !== null).length,
      ms: now() - t0,
      errors: r.errors,
    });
    return r.errors;
  };

  try {
    if (options.once) {
      if (options.checkpoints) await probeAll(options.users ?? inv.users.map((u) => u.name));
      warnings.push(...(await takeRound()));
    } else {
      const users = options.users ?? inv.users.map((u) => u.name);
      // The agents start one by one: each waits for its machine's login shell and says hello.
      for (const name of users) {
        if (signal?.aborted) break;
        const host = getHost(inv, inv.users.find((u) => u.name === name)?.host ?? '').name;
        try {
          const session = await startAgent(inv, pool, state, {
            user: name,
            experimentId: options.experimentId ?? null,
          });
          sessions.push({ user: name, host, session });
          options.onEvent?.({ type: 'agent', user: name, host, bs: session.hello?.bs ?? null });
        } catch (err) {
          sessions.push({ user: name, host, error: errorMessage(err) });
          warnings.push(`${name}: its agent did not start: ${errorMessage(err)}`);
        }
      }
      if (options.checkpoints) await probeAll(users);
      const until = options.durationMs === undefined ? Infinity : startedMs + options.durationMs;
      const seen = new Set<string>();
      while (!signal?.aborted && now() < until) {
        const t0 = now();
        for (const e of await takeRound())
          if (!seen.has(e)) {
            seen.add(e);
            warnings.push(e);
          }
        const wait = Math.min(t0 + intervalMs, until) - now();
        if (wait > 0) await sleep(wait, undefined, signal ? { signal } : {}).catch(() => {});
      }
      if (signal?.aborted) ended = 'interrupted';
      options.onEvent?.({
        type: 'stopping',
        reason: ended === 'interrupted' ? 'interrupted' : 'the duration is over',
      });
    }
  } finally {
    // However the run ends, every agent is stopped and waited for (it puts back its rate caps and rules).
    await Promise.all(
      sessions.map(async (s) => {
        if (!s.session) return;
        await s.session.stop(30_000).catch((err: unknown) => {
          warnings.push(`${s.user}: stopping its agent: ${errorMessage(err)}`);
        });
      }),
    );
    await Promise.all([...shells.values()].map((s) => s.close().catch(() => {})));
  }

  const agents: AgentSummary[] = sessions.map((s) => {
    const a = s.session;
    if (a) {
      stored.userReports += a.positions;
      stored.tasks += a.tasks;
      stored.handovers += a.handovers.filter((h) => !h.error || h.linkDownMs > 0).length;
      stored.gaps += a.gaps;
      for (const e of a.errors) warnings.push(`${s.user}: ${e}`);
    }
    return {
      user: s.user,
      host: s.host,
      started: a !== undefined,
      ...(s.error ? { error: s.error } : {}),
      positions: a?.positions ?? 0,
      tasks: a?.tasks ?? 0,
      handovers: a?.handovers.length ?? 0,
      gaps: a?.gaps ?? 0,
      bs: a?.bye?.bs ?? a?.handovers.at(-1)?.to ?? a?.hello?.bs ?? null,
      ended: a?.bye?.reason ?? null,
      restored: a?.restored ?? [],
    };
  });
  const snapshot = buildSnapshot(inv, state, { atMs: now(), windowS: options.windowS ?? DEFAULT_WINDOW_S });
  for (const u of snapshot.users)
    if (!u.report)
      warnings.push(
        `${u.user}: no report from its agent in the state database (monitor --duration S starts the agents)`,
      );
  for (const s of snapshot.servers)
    if (s.cpuScore === null) warnings.push(`${s.host}: no CPU score yet (edgectl hosts check measures it)`);
  for (const l of snapshot.links)
    if (l.latencyEmulated === false)
      warnings.push(`link ${l.from} -> ${l.to}: its latency is not emulated (its RTT is the lab's own)`);
  return {
    startedMs: Math.round(startedMs),
    durationMs: Math.round(now() - startedMs),
    ended,
    rounds,
    stored,
    agents,
    probes,
    links: lastLinks,
    snapshot,
    warnings,
  };
}
