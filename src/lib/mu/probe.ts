/**
 * The downtime probe: what the user sees during a migration, measured by pinging the service (a `ping`
 * task, which does not count) over the user's own path, every few milliseconds. It pings the source
 * until it stops answering, then both the destination and the source (a fresh attempt at each every
 * few milliseconds, overlapping) until one answers; the downtime is the time between the last answer
 * before the gap and the first one after it, on one clock.
 */

import { type Host, type Inventory, route } from '../inventory/index.js';
import type { SshPool } from '../remote/index.js';
import { sleep } from '../util/time.js';
import { OffloadConnection, type OffloadTarget } from './client.js';
import { remoteEdgectlArgv } from './offload.js';
import { decodeAnswer, encodeTask, isAnswerError } from './protocol.js';

export interface ProbeOptions {
  from: OffloadTarget;
  to: OffloadTarget;
  intervalMs?: number;
  /** A ping without an answer within this long counts as a failure. */
  attemptTimeoutMs?: number;
  /** Give up when no answer came for this long after the gap began. */
  timeoutMs?: number;
  /** Called once the source answered (the probe is ready to see a gap). */
  onReady?: () => void;
  signal?: AbortSignal;
}

export interface ProbeResult {
  /** Epoch ms of the last answer before the gap. */
  lastOkBeforeMs: number | null;
  /** Epoch ms of the first answer after it. */
  firstOkAfterMs: number | null;
  downtimeMs: number | null;
  /** Which side answered after the gap ('from': the service came back where it was, e.g. a rollback). */
  answeredBy: 'from' | 'to' | null;
  pings: number;
  failures: number;
}

const now = () => performance.timeOrigin + performance.now();

class Pinger {
  private conn: OffloadConnection | undefined;
  private id = 0;
  /** The slowest answer so far, ms. */
  slowestMs = 0;
  constructor(
    private readonly target: OffloadTarget,
    public timeoutMs: number,
  ) {}

  /** True when the service answered a ping within the time limit. */
  async ping(): Promise<boolean> {
    try {
      if (!this.conn || this.conn.closed)
        this.conn = await OffloadConnection.open(this.target, this.timeoutMs);
      const sent = now();
      const body = await this.conn.request(encodeTask({ id: ++this.id, op: 'ping' }), this.timeoutMs);
      this.slowestMs = Math.max(this.slowestMs, now() - sent);
      return !isAnswerError(decodeAnswer(body));
    } catch {
      this.conn?.close();
      this.conn = undefined;
      return false;
    }
  }

  close(): void {
    this.conn?.close();
  }
}

/** One ping on a connection of its own: true when it was answered within timeoutMs. */
async function pingOnce(target: OffloadTarget, timeoutMs: number, id: number): Promise<boolean> {
  return (await timedPing(target, timeoutMs, id)).ok;
}

/**
 * One ping on a connection of its own (connect included), with when it started and when its answer came
 * (epoch ms); ok false when not answered within timeoutMs or the signal aborted it.
 */
export async function timedPing(
  target: OffloadTarget,
  timeoutMs: number,
  id: number,
  signal?: AbortSignal,
): Promise<{ ok: boolean; sentMs: number; answeredMs: number }> {
  const sentMs = now();
  const deadline = sentMs + timeoutMs;
  let conn: OffloadConnection | undefined;
  const onAbort = () => conn?.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    conn = await OffloadConnection.open(target, timeoutMs);
    if (signal?.aborted) return { ok: false, sentMs, answeredMs: now() };
    const body = await conn.request(encodeTask({ id, op: 'ping' }), Math.max(1, deadline - now()));
    return { ok: !isAnswerError(decodeAnswer(body)), sentMs, answeredMs: now() };
  } catch {
    return { ok: false, sentMs, answeredMs: now() };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    conn?.close();
  }
}

/**
 * Starts an attempt at each side every `interval` ms (at most as many in flight per side as fit in one
 * attempt timeout) until one is answered: resolves with that side, or null on timeout or abort.
 */
function firstAnswer(
  options: ProbeOptions,
  interval: number,
  attempt: number,
  giveUp: number,
  result: ProbeResult,
): Promise<{ side: 'from' | 'to'; atMs: number } | null> {
  const maxInFlight = Math.max(1, Math.ceil(attempt / interval));
  const inFlight = { from: 0, to: 0 };
  let id = 1_000_000;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (side: 'from' | 'to' | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(side ? { side, atMs: now() } : null);
    };
    const tick = () => {
      if (settled) return;
      if (options.signal?.aborted || now() > giveUp) {
        settle(null);
        return;
      }
      for (const side of ['to', 'from'] as const) {
        if (inFlight[side] >= maxInFlight) continue;
        inFlight[side]++;
        result.pings++;
        void pingOnce(options[side], attempt, ++id).then((ok) => {
          inFlight[side]--;
          if (ok) settle(side);
          else if (!settled) result.failures++;
        });
      }
      timer = setTimeout(tick, interval);
    };
    tick();
  });
}

export async function probeGap(options: ProbeOptions): Promise<ProbeResult> {
  const interval = options.intervalMs ?? 10;
  const attempt = options.attemptTimeoutMs ?? 250;
  const timeout = options.timeoutMs ?? 300_000;
  const from = new Pinger(options.from, attempt);
  const result: ProbeResult = {
    lastOkBeforeMs: null,
    firstOkAfterMs: null,
    downtimeMs: null,
    answeredBy: null,
    pings: 0,
    failures: 0,
  };
  try {
    // Until the source answers: the probe is not ready before that. A path longer than the attempt
    // timeout would never answer in time: each failure doubles it (up to 5 s).
    const readyBy = now() + Math.min(timeout, 30_000);
    while (!(await from.ping())) {
      result.pings++;
      if (now() > readyBy || options.signal?.aborted) return result;
      from.timeoutMs = Math.min(Math.max(from.timeoutMs * 2, attempt), 5_000);
      await sleep(interval);
    }
    result.pings++;
    // Answers on this path take up to slowestMs: a ping counts as failed only well beyond that.
    from.timeoutMs = Math.max(attempt, Math.ceil(3 * from.slowestMs));
    result.lastOkBeforeMs = now();
    options.onReady?.();
    // While it answers.
    for (;;) {
      if (options.signal?.aborted) return result;
      await sleep(interval);
      result.pings++;
      if (!(await from.ping())) break;
      result.lastOkBeforeMs = now();
    }
    result.failures++;
    from.close();
    // The gap: a fresh attempt at each side every interval, without waiting for earlier ones to give up
    // (a SYN dropped while CRIU locks the network would otherwise blind the probe for a whole attempt
    // timeout); whichever answers first ends it.
    const winner = await firstAnswer(options, interval, from.timeoutMs, now() + timeout, result);
    if (!winner) return result;
    result.answeredBy = winner.side;
    result.firstOkAfterMs = winner.atMs;
    result.downtimeMs = result.firstOkAfterMs - (result.lastOkBeforeMs ?? result.firstOkAfterMs);
    return result;
  } finally {
    from.close();
  }
}

/**
 * The probe's attempt timeout for a move between two servers: 250 ms beyond twice the longest round trip
 * hosts.yml gives from any base station's AP to either of them (a user 300 ms from the cloud must not
 * count every answer from there as lost).
 */
export function probeAttemptTimeoutMs(inv: Inventory, from: string, to: string): number {
  let rtt = 0;
  for (const bs of inv.basestations)
    for (const server of [from, to]) rtt = Math.max(rtt, route(inv, bs.host, server)?.rttMs ?? 0);
  return 250 + 2 * rtt;
}

/** A probe running on a user's mu host: its result once the service answered after the gap (or it gave up). */
export interface RunningProbe {
  result: Promise<ProbeResult | null>;
}

/**
 * Starts `edgectl mu probe` on the user's mu host (over SSH, its output streamed) and waits until it sees
 * the service answer on the source; undefined when it does not start within 20 s (the downtime then goes
 * unmeasured).
 */
export async function startRemoteProbe(
  pool: SshPool,
  mu: Host,
  target: { from: string; to: string; localAddress: string; attemptTimeoutMs?: number },
): Promise<RunningProbe | undefined> {
  let ready: () => void = () => {};
  const isReady = new Promise<void>((r) => {
    ready = r;
  });
  const args = [
    'mu',
    'probe',
    '--from',
    target.from,
    '--to',
    target.to,
    '--local-address',
    target.localAddress,
    '--timeout-ms',
    '120000',
    ...(target.attemptTimeoutMs ? ['--attempt-timeout-ms', String(target.attemptTimeoutMs)] : []),
  ];
  const running = pool.executor(mu).run(remoteEdgectlArgv(mu, args), {
    timeoutMs: 180_000,
    onStdout: (chunk) => {
      if (chunk.includes('ready')) ready();
    },
  });
  const result = running.then((r) => {
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    try {
      return JSON.parse(line) as ProbeResult;
    } catch {
      return null;
    }
  });
  let timer: NodeJS.Timeout | undefined;
  const got = await Promise.race([
    isReady.then(() => true),
    running.then(() => false),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), 20_000);
    }),
  ]);
  clearTimeout(timer);
  if (!got) return undefined;
  return { result };
}
