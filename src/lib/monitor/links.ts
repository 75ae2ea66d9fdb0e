/**
 * Link probes on the data network: the round trip of every pair the planner reads (each base station's AP
 * to every server: RTT_b's'; every server to every other: the migration path), measured by a user-level
 * probe, and the pair's bandwidth from the inventory (the bottleneck of its route, what provision shapes).
 *
 * The probe is iputils `ping -U`: it times each echo in user space, so it includes the delay edgectl-delay
 * applies where packets arrive (a plain ping takes the kernel's receive timestamp, before the NFQUEUE hold,
 * and would see no emulated latency at all). One SSH command per source host pings all its peers at once
 * from its data address; each output line is tagged with the peer's address.
 */
import { errorMessage } from '../errors.js';
import { getHost, type Host, type Inventory, route } from '../inventory/index.js';
import { type Executor, shellJoin } from '../remote/index.js';
import type { LinkMeasurement } from '../state/index.js';
import { median } from '../util/stats.js';
import { MonitorError } from './errors.js';

/** How a link's RTT was measured (the link_measurements.method column). */
export const LINK_PROBE_METHOD = 'ping-U';
export const PROBE_COUNT = 5;
/** iputils' smallest interval for a user that is not root; 5 echoes take 0.8 s plus one round trip. */
export const PROBE_INTERVAL_S = 0.2;

/** One pair the monitor measures: from the `from` host's data address to the `to` host's. */
export interface ProbePair {
  from: string;
  to: string;
  /** The round trip the inventory gives this pair (twice the route's one-way latency). */
  expectedRttMs: number;
  /** The route's bottleneck bandwidth (bit/s). */
  bandwidthBps: number;
}

/**
 * The pairs the planner needs, each measured once: every base station's AP to every server, and every
 * server to every later one (in inventory order). Pairs the wired links do not join are left out.
 */
export function probePairs(inv: Inventory): ProbePair[] {
  const servers = inv.hosts.filter((h) => h.isServer);
  const aps = [...new Set(inv.basestations.map((b) => b.host))].map((name) => getHost(inv, name));
  const pairs: ProbePair[] = [];
  const add = (from: Host, to: Host) => {
    const r = route(inv, from.name, to.name);
    if (!r || from.name === to.name) return;
    pairs.push({ from: from.name, to: to.name, expectedRttMs: r.rttMs, bandwidthBps: r.bandwidthBps });
  };
  for (const ap of aps) for (const s of servers) add(ap, s);
  for (const [i, a] of servers.entries()) for (const b of servers.slice(i + 1)) add(a, b);
  return pairs;
}

/** How long one ping of a pair may wait for its answer: the expected round trip, twice, plus a second. */
export function probeDeadlineS(expectedRttMs: number, count = PROBE_COUNT): number {
  return Math.ceil(count * PROBE_INTERVAL_S + (2 * expectedRttMs) / 1000 + 1);
}

/**
 * The probe of one source host as one `sh -c` line (pure): a `ping -U` per peer, all at once, from the
 * source's data address; every line of each one's output prefixed with `@PEER `; then `wait`.
 */
export function linkProbeArgv(
  fromAddress: string,
  peers: readonly { address: string; expectedRttMs: number }[],
  count = PROBE_COUNT,
): string[] {
  const jobs = peers.map((p) => {
    const ping = shellJoin([
      'ping',
      '-U',
      '-n',
      '-c',
      String(count),
      '-i',
      String(PROBE_INTERVAL_S),
      '-w',
      String(probeDeadlineS(p.expectedRttMs, count)),
      '-I',
      fromAddress,
      p.address,
    ]);
    return `{ ${ping} 2>&1 | ${shellJoin(['sed', `s/^/@${p.address} /`])}; } &`;
  });
  return ['sh', '-c', [...jobs, 'wait'].join(' ')];
}

/** What the probe saw of one peer. */
export interface PingSummary {
  /** Round trips of the echoes answered (ms), in order. */
  samples: number[];
  sent: number;
  received: number;
  /** The probe's own complaint (no such option, no route), when it printed one. */
  error?: string;
}

/** Splits linkProbeArgv's output by peer address and reads each ping's round trips and counts. */
export function parseLinkProbe(stdout: string): Map<string, PingSummary> {
  const out = new Map<string, PingSummary>();
  for (const line of stdout.split('\n')) {
    const m = /^@(\S+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const [, peer = '', text = ''] = m;
    let s = out.get(peer);
    if (!s) {
      s = { samples: [], sent: 0, received: 0 };
      out.set(peer, s);
    }
    const time = /\btime[=<]([\d.]+) ?ms\b/.exec(text);
    const counts = /^(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
    if (time) s.samples.push(Number(time[1]));
    else if (counts) {
      s.sent = Number(counts[1]);
      s.received = Number(counts[2]);
    } else if (/invalid|usage|unknown|not permitted|cannot|unreachable|bad address|no such/i.test(text))
      s.error ??= text.trim();
  }
  return out;
}

/** One measured pair, as the round reports it (and records it). */
export interface LinkProbeResult extends LinkMeasurement {
  expectedRttMs: number;
  rttMinMs: number | null;
  lossPct: number | null;
  error?: string;
}

/** The measurement of a pair from what its ping printed. */
export function linkResult(pair: ProbePair, atMs: number, seen: PingSummary | undefined): LinkProbeResult {
  const rtt = median(seen?.samples ?? []);
  const sent = seen?.sent || seen?.samples.length || 0;
  let error: string | undefined;
  if (!seen) error = 'the probe printed nothing for this peer';
  else if (seen.error) error = seen.error;
  else if (rtt === null) error = `no answer to ${sent || PROBE_COUNT} echoes`;
  return {
    atMs,
    fromHost: pair.from,
    toHost: pair.to,
    rttMs: rtt === null ? null : Math.round(rtt * 1000) / 1000,
    bandwidthBps: Number.isFinite(pair.bandwidthBps) ? pair.bandwidthBps : null,
    method: LINK_PROBE_METHOD,
    expectedRttMs: pair.expectedRttMs,
    rttMinMs: seen && seen.samples.length > 0 ? Math.min(...seen.samples) : null,
    lossPct: sent > 0 ? Math.round((1000 * (sent - (seen?.samples.length ?? 0))) / sent) / 10 : null,
    ...(error ? { error } : {}),
  };
}

/** Probes every pair (one SSH command per source host, all hosts at once); a host that fails is said per pair. */
export async function probeLinks(
  inv: Inventory,
  exec: (host: Host) => Executor,
  pairs: readonly ProbePair[],
  atMs: number,
): Promise<LinkProbeResult[]> {
  const bySource = new Map<string, ProbePair[]>();
  for (const p of pairs) bySource.set(p.from, [...(bySource.get(p.from) ?? []), p]);
  const results = await Promise.all(
    [...bySource].map(async ([from, its]) => {
      const host = getHost(inv, from);
      const peers = its.map((p) => ({
        address: getHost(inv, p.to).dataAddress,
        expectedRttMs: p.expectedRttMs,
      }));
      const limitMs = 1000 * Math.max(...peers.map((p) => probeDeadlineS(p.expectedRttMs))) + 15_000;
      try {
        const r = await exec(host).run(linkProbeArgv(host.dataAddress, peers), { timeoutMs: limitMs });
        if (
          /ping: (not found|command not found)|ping: invalid option -- 'U'|unrecognized option/.test(r.stdout)
        )
          throw new MonitorError(
            `${from} has no iputils ping (ping -U), the monitor's link probe`,
            `edgectl provision --install-deps --host ${from} (Debian: apt-get install iputils-ping)`,
          );
        const seen = parseLinkProbe(r.stdout);
        return its.map((p) => linkResult(p, atMs, seen.get(getHost(inv, p.to).dataAddress)));
      } catch (err) {
        return its.map((p) => ({ ...linkResult(p, atMs, undefined), error: errorMessage(err) }));
      }
    }),
  );
  return results.flat();
}
