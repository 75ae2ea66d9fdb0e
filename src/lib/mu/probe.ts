/**
 * The downtime probe: what the user sees during a migration, measured by asking the service, over the
 * user's own path, every few milliseconds. It asks the source until it stops answering, then both the
 * destination and the source (a fresh attempt at each every few milliseconds, overlapping) until one
 * answers; the downtime is the time between the last answer before the gap and the first one after it,
 * on one clock.
 *
 * What counts as an answer is the service's probe (hosts.yml `services[].probe`): `edgectl`, a `ping`
 * task of the bundled apps' protocol (which does not count); `tcp`, a connection accepted; `http:/PATH`,
 * a 2xx answer to GET /PATH.
 *
 * The edgectl probe also carries the migration's state check (migration/state-check.ts) at no cost of its
 * own: every answer of the source gives its counter and state digest, and once the destination answered,
 * one more ping there with `at` asks for the state after the source's last counter. An exec in each
 * container did this before, a new SSH session each (2 s on the lab, and one inside the migration).
 */

import { request } from 'node:http';
import { connect } from 'node:net';
import { type Host, type Inventory, probeText, route, type ServiceProbe } from '../inventory/index.js';
import type { SshPool } from '../remote/index.js';
import { sleep } from '../util/time.js';
import { OffloadConnection, type OffloadTarget } from './client.js';
import { remoteEdgectlArgv } from './offload.js';
import { decodeAnswer, encodeTask, isAnswerError } from './protocol.js';

/** The probes that measure something (`none` measures nothing). */
export type ActiveProbe = Exclude<ServiceProbe, { kind: 'none' }>;

export interface ProbeOptions {
  from: OffloadTarget;
  to: OffloadTarget;
  /** What counts as an answer (default: an edgectl ping). */
  probe?: ActiveProbe;
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
  /**
   * How long that first answer took, from its attempt's start (a fresh connection, then the request): the
   * part of the downtime spent on the user's path after the service was back (at most: an attempt may
   * also have waited there for the service). Null where there was none.
   */
  answerMs?: number | null;
  /** That answer's request's own round trip once connected (the edgectl probe; null for tcp and http). */
  roundTripMs?: number | null;
  /** The probe that measured it: edgectl, tcp or http:/PATH. */
  probe: string;
  pings: number;
  failures: number;
  /** The edgectl probe only: what it saw of the service's state, for the migration's state check. */
  state?: ProbeState;
}

/** What the edgectl probe saw of a bundled app's state across the gap, as the services answered it. */
export interface ProbeState {
  /** The source's last answer before the gap: its counter and state digest (null: it gave none). */
  before: { counter: number; digest: string | null } | null;
  /**
   * The destination's answer, after the gap, to one ping with `at` = before.counter: the state after that
   * task, or why not (an error answer, or none). Null when not asked: no digest before, or no answer
   * from the destination.
   */
  after: { counter: number; digest: string } | { error: string } | null;
}

const now = () => performance.timeOrigin + performance.now();

const EDGECTL_PROBE: ActiveProbe = { kind: 'edgectl' };

/** Asks the service on one long-lived connection (edgectl), or on a fresh one each time (tcp, http). */
class Pinger {
  private conn: OffloadConnection | undefined;
  private id = 0;
  /** The slowest answer so far, ms. */
  slowestMs = 0;
  /** The last answer's counter and state digest (edgectl). */
  last: ProbeState['before'] = null;
  constructor(
    private readonly target: OffloadTarget,
    public timeoutMs: number,
    private readonly probe: ActiveProbe,
  ) {}

  /** True when the service answered within the time limit. */
  async ping(): Promise<boolean> {
    const sent = now();
    let ok: boolean;
    if (this.probe.kind !== 'edgectl') {
      ok = (await askOnce(this.probe, this.target, this.timeoutMs, ++this.id)).ok;
    } else {
      try {
        if (!this.conn || this.conn.closed)
          this.conn = await OffloadConnection.open(this.target, this.timeoutMs);
        const body = await this.conn.request(encodeTask({ id: ++this.id, op: 'ping' }), this.timeoutMs);
        const answer = decodeAnswer(body);
        ok = !isAnswerError(answer);
        if (!isAnswerError(answer)) this.last = { counter: answer.counter, digest: answer.digest ?? null };
      } catch {
        this.conn?.close();
        this.conn = undefined;
        ok = false;
      }
    }
    if (ok) this.slowestMs = Math.max(this.slowestMs, now() - sent);
    return ok;
  }

  close(): void {
    this.conn?.close();
  }
}

/** A TCP connection accepted within timeoutMs; closed at once with a reset (no TIME_WAIT left behind). */
export function tcpAccepts(target: OffloadTarget, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({
      host: target.address,
      port: target.port,
      ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (ok) socket.resetAndDestroy();
      else socket.destroy();
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** GET `path` on a connection of its own: true for a 2xx answer (its body read) within timeoutMs. */
export function httpAnswers(
  target: OffloadTarget,
  path: string,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    let settled = false;
    const req = request({
      host: target.address,
      port: target.port,
      path,
      method: 'GET',
      agent: false,
      headers: { connection: 'close' },
      ...(target.localAddress ? { localAddress: target.localAddress } : {}),
    });
    const done = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    req.once('response', (res) => {
      const ok = (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300;
      res.resume();
      res.once('end', () => done(ok));
      res.once('error', () => done(false));
    });
    req.once('error', () => done(false));
    req.end();
  });
}

/** One question to the service on a connection of its own: true when it answered within timeoutMs. */
/** One attempt on a fresh connection; `requestMs`: its request's own round trip, once connected (the
 * edgectl probe; null for the others, which do not time it). */
function askOnce(
  probe: ActiveProbe,
  target: OffloadTarget,
  timeoutMs: number,
  id: number,
): Promise<{ ok: boolean; requestMs: number | null }> {
  if (probe.kind === 'tcp') return tcpAccepts(target, timeoutMs).then((ok) => ({ ok, requestMs: null }));
  if (probe.kind === 'http')
    return httpAnswers(target, probe.path, timeoutMs).then((ok) => ({ ok, requestMs: null }));
  return timedPing(target, timeoutMs, id).then((p) => ({
    ok: p.ok,
    requestMs: p.connectedMs === null ? null : p.answeredMs - p.connectedMs,
  }));
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
): Promise<{ ok: boolean; sentMs: number; answeredMs: number; connectedMs: number | null }> {
  const sentMs = now();
  let connectedMs: number | null = null;
  const deadline = sentMs + timeoutMs;
  let conn: OffloadConnection | undefined;
  const onAbort = () => conn?.close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    conn = await OffloadConnection.open(target, timeoutMs);
    connectedMs = now();
    if (signal?.aborted) return { ok: false, sentMs, answeredMs: now(), connectedMs };
    const body = await conn.request(encodeTask({ id, op: 'ping' }), Math.max(1, deadline - now()));
    return { ok: !isAnswerError(decodeAnswer(body)), sentMs, answeredMs: now(), connectedMs };
  } catch {
    return { ok: false, sentMs, answeredMs: now(), connectedMs };
  } finally {
    signal?.removeEventListener('abort', onAbort);
    conn?.close();
  }
}

/**
 * The state after task `at`, asked of the service with one ping on a fresh connection: its `stateAt`, its
 * error answer, or why there was none. Up to `tries` attempts while it does not answer at all (the service
 * has just answered the probe, but one attempt may still meet a dropped packet).
 */
export async function askStateAt(
  target: OffloadTarget,
  at: number,
  timeoutMs: number,
  tries = 3,
): Promise<NonNullable<ProbeState['after']>> {
  let why = 'no attempt';
  for (let i = 0; i < tries; i++) {
    let conn: OffloadConnection | undefined;
    try {
      conn = await OffloadConnection.open(target, timeoutMs);
      const answer = decodeAnswer(
        await conn.request(encodeTask({ id: 2_000_000 + i, op: 'ping', at }), timeoutMs),
      );
      if (isAnswerError(answer)) return { error: answer.error };
      return answer.stateAt ?? { error: `its answer to a ping with at ${at} has no stateAt` };
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    } finally {
      conn?.close();
    }
  }
  return { error: `no answer to a ping with at ${at} in ${tries} attempts of ${timeoutMs} ms: ${why}` };
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
): Promise<{ side: 'from' | 'to'; atMs: number; tookMs: number; requestMs: number | null } | null> {
  const maxInFlight = Math.max(1, Math.ceil(attempt / interval));
  const probe = options.probe ?? EDGECTL_PROBE;
  const inFlight = { from: 0, to: 0 };
  let id = 1_000_000;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const settle = (side: 'from' | 'to' | null, sentMs = 0, requestMs: number | null = null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const atMs = now();
      resolve(side ? { side, atMs, tookMs: atMs - sentMs, requestMs } : null);
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
        const sentMs = now();
        void askOnce(probe, options[side], attempt, ++id).then(({ ok, requestMs }) => {
          inFlight[side]--;
          if (ok) settle(side, sentMs, requestMs);
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
  const probe = options.probe ?? EDGECTL_PROBE;
  const from = new Pinger(options.from, attempt, probe);
  const result: ProbeResult = {
    lastOkBeforeMs: null,
    firstOkAfterMs: null,
    downtimeMs: null,
    answeredBy: null,
    answerMs: null,
    roundTripMs: null,
    probe: probeText(probe),
    pings: 0,
    failures: 0,
    ...(probe.kind === 'edgectl' ? { state: { before: null, after: null } } : {}),
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
    // The source's last answer before the gap: the state the destination must have kept.
    if (result.state) result.state.before = from.last;
    // The gap: a fresh attempt at each side every interval, without waiting for earlier ones to give up
    // (a SYN dropped while CRIU locks the network would otherwise blind the probe for a whole attempt
    // timeout); whichever answers first ends it.
    const winner = await firstAnswer(options, interval, from.timeoutMs, now() + timeout, result);
    if (!winner) return result;
    result.answeredBy = winner.side;
    result.firstOkAfterMs = winner.atMs;
    result.answerMs = winner.tookMs;
    result.roundTripMs = winner.requestMs;
    result.downtimeMs = result.firstOkAfterMs - (result.lastOkBeforeMs ?? result.firstOkAfterMs);
    // After the gap, so that it adds nothing to the downtime measured.
    const before = result.state?.before;
    if (result.state && winner.side === 'to' && before && before.digest !== null)
      result.state.after = await askStateAt(options.to, before.counter, from.timeoutMs);
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
  target: { from: string; to: string; localAddress: string; attemptTimeoutMs?: number; probe?: ActiveProbe },
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
    ...(target.probe ? ['--probe', probeText(target.probe)] : []),
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
