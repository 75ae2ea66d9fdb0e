/**
 * One handover as the user's machine does it: the radio link goes down (the user's packets dropped both
 * ways: the blackout, 500 ms for the paper's virtual user), then its path switches to the new base station
 * in one in-place rule replacement, and the link comes back. The gap the user saw is measured by pinging
 * its service from its own address: from the last answer before the link went down to the first request
 * sent after it came back that was answered. Both `edgectl mu run` (the agent) and `edgectl mu handover`
 * (what `edgectl handover` runs) do it here, so both measure the same thing.
 *
 * It comes in parts because the agent runs them on different terms: the radio event (link down to link up,
 * short) holds the user's link and must happen at its instant, one at a time; the gap measurement after it
 * (up to 10 s when the service is slow to answer) holds nothing and is cut off by the next radio event.
 * `performHandover` runs them one after the other, for the command line's one handover.
 */
import { setMaxListeners } from 'node:events';
import { EdgectlError, ExitCode } from '../errors.js';
import { blackoutArgv, blackoutLeftoversArgv, readTableArgv } from '../netem/iptables.js';
import { findUserRule, switchUserArgv } from '../provision/paths.js';
import { type Executor, runChecked, shellJoin } from '../remote/index.js';
import { abortableSleep as sleep } from '../util/time.js';
import type { Endpoint } from './agent-spec.js';
import { timedPing } from './probe.js';

export interface HandoverRequest {
  user: string;
  address: string;
  /** The base stations' routing tables, by name (the user's MARK rule says which one it is on). */
  tables: Record<string, number>;
  to: string;
  blackoutMs: number;
  /** The user's service: the gap is measured against it (null: only the blackout is known). */
  endpoint: Endpoint | null;
  /** A ping unanswered this long counts as lost. */
  attemptTimeoutMs: number;
  /**
   * When the link goes down (epoch ms, this machine's clock), for a handover scheduled at an instant: the
   * ping before it starts at once and is waited for only until then (a service that does not answer, a
   * migration's frozen source say, must not hold the radio event up). Without it the link goes down as soon
   * as that ping is done.
   */
  startAt?: number;
  /** Aborts the blackout early: the link comes back on the old path (rules removed). */
  signal?: AbortSignal;
  /**
   * Called as soon as the path has switched and the link is back, before the gap is measured (which
   * waits for the service to answer: a migration under way may hold that up for seconds).
   */
  onSwitched?: () => void;
}

export interface HandoverOutcome {
  from: string | null;
  to: string;
  /** When the link went down (epoch ms, this machine's clock). */
  downMs: number;
  /** Link down to path switched and link up. */
  linkDownMs: number;
  /** The user's last answer before the link went down to its first request answered after: the gap it saw. */
  gapMs: number | null;
  /** Last answer before to first answer after. */
  answerGapMs: number | null;
  /** Pings answered while the link was meant to be down (0 unless the blackout leaked). */
  leaked: number;
  /** True when the path did not switch (aborted, or the switch failed): the user stays where it was. */
  aborted: boolean;
}

export class HandoverError extends EdgectlError {
  constructor(message: string, hint?: string) {
    super('HANDOVER_FAILED', ExitCode.remote, message, hint ? { hint } : {});
  }
}

const now = () => performance.timeOrigin + performance.now();
/** Several argv as one shell command line: one process start instead of several, on the critical path. */
function sequence(cmds: readonly string[][]): string[] {
  return ['sh', '-c', cmds.map((c) => shellJoin(c)).join(' && ')];
}

/** The base station a user is on, from its MARK rule on this machine. */
export async function readUserBasestation(
  exec: Executor,
  address: string,
  tables: Record<string, number>,
): Promise<{ bs: string | null; position: number; table: number } | undefined> {
  const dump = (await runChecked(exec, readTableArgv('mangle'))).stdout;
  const rule = findUserRule(dump, address);
  if (!rule) return undefined;
  const bs = Object.entries(tables).find(([, t]) => t === rule.table)?.[0] ?? null;
  return { bs, ...rule };
}

/** Removes any blackout rule of `user` left on this machine (a handover cut off half-way); what it removed. */
export async function removeBlackoutLeftovers(exec: Executor, user: string): Promise<number> {
  const dump = (await runChecked(exec, readTableArgv('mangle'))).stdout;
  const cmds = blackoutLeftoversArgv(dump, user);
  for (const c of cmds) await exec.run(c);
  return cmds.length;
}

/** Where a user's MARK rule is (a switch rewrites it in place) and the base station it names. */
export async function readUserRule(
  exec: Executor,
  user: string,
  address: string,
  tables: Record<string, number>,
): Promise<{ bs: string | null; position: number; table: number }> {
  const rule = await readUserBasestation(exec, address, tables);
  if (!rule)
    throw new HandoverError(`no path rule for user ${user} on this machine`, 'run edgectl provision first');
  return rule;
}

type Target = Endpoint & { localAddress: string };

/**
 * The ping just before the link goes down: when its answer came (epoch ms), or null. With `until` it is
 * waited for only until then (the instant the link goes down: a frozen service must not hold it up).
 */
export async function pingBefore(
  target: Target,
  attemptTimeoutMs: number,
  id: number,
  until?: number,
): Promise<number | null> {
  const ping = timedPing(target, attemptTimeoutMs, id);
  const p =
    until === undefined
      ? await ping
      : await Promise.race([ping, sleep(Math.max(0, until - now())).then(() => null)]);
  return p?.ok ? p.answeredMs : null;
}

export interface RadioEventRequest {
  user: string;
  address: string;
  to: string;
  /** The routing table of `to`. */
  table: number;
  /** Where the user's MARK rule is: awaited only at the switch (never delays the link going down). */
  rule: Promise<{ position: number }> | { position: number };
  blackoutMs: number;
  /** Pinged during the blackout to check that it holds (null: not checked). */
  leakTarget: Target | null;
  attemptTimeoutMs: number;
  nextId: () => number;
  /** Aborts the blackout early: the link comes back on the old path. */
  signal?: AbortSignal;
}

export interface RadioEvent {
  /** When the link went down and came back (epoch ms, this machine's clock). */
  downMs: number;
  upMs: number;
  /** True when the path did not switch (the blackout was cut off): the user stays where it was. */
  aborted: boolean;
  /** Pings answered while the link was meant to be down; settles once the last check has ended. */
  leaked: Promise<number>;
}

/**
 * The radio event of a handover, at once: the link goes down, stays down for the blackout, and comes back
 * switched to the new base station. It is short and holds the user's link: callers never run two at a time.
 */
export async function radioEvent(exec: Executor, req: RadioEventRequest): Promise<RadioEvent> {
  const downMs = now();
  await runChecked(exec, sequence(blackoutArgv('-I', req.user, req.address)), {
    what: `cutting ${req.user}'s radio link`,
  });
  let upMs = downMs;
  let aborted = false;
  let leaked = 0;
  const leaks: Promise<void>[] = [];
  const target = req.leakTarget;
  try {
    // While the link is down, requests must go unanswered: a few pings check that the blackout holds.
    const cut = new AbortController();
    setMaxListeners(0, cut.signal);
    if (target) {
      const checkEvery = Math.max(20, Math.min(100, req.blackoutMs / 5));
      for (let t = checkEvery; t < req.blackoutMs - checkEvery; t += checkEvery) {
        leaks.push(
          sleep(t, cut.signal).then(async () => {
            if (cut.signal.aborted) return;
            const p = await timedPing(target, Math.max(1, req.blackoutMs - t), req.nextId(), cut.signal);
            if (p.ok && p.answeredMs < upMs) leaked++;
          }),
        );
      }
    }
    const rule = await req.rule;
    await sleep(downMs + req.blackoutMs - now(), req.signal);
    aborted = req.signal?.aborted === true;
    // Pings still under way count as leaks only if answered before the link came back; they are not
    // waited for (a connect in progress would hold the switch up).
    upMs = Number.POSITIVE_INFINITY;
    cut.abort();
    // The switch and the link coming back, in one command: the user's path never points nowhere.
    const cmds = aborted
      ? []
      : [switchUserArgv({ name: req.user, address: req.address }, req.table, rule.position)];
    await runChecked(exec, sequence([...cmds, ...blackoutArgv('-D', req.user, req.address)]), {
      what: `switching ${req.user} to ${req.to}`,
    });
    upMs = now();
  } catch (err) {
    // Whatever failed, the link comes back (on whichever path the rule now names).
    await removeBlackoutLeftovers(exec, req.user).catch(() => 0);
    throw err;
  }
  return { downMs, upMs, aborted, leaked: Promise.all(leaks).then(() => leaked) };
}

export interface GapMeasureRequest {
  /** Where the service is now: read at every attempt, so a service that moved is followed (null: nowhere). */
  endpoint: () => Endpoint | null;
  localAddress: string;
  attemptTimeoutMs: number;
  nextId: () => number;
  /** Give up after this long without an answer. */
  giveUpMs: number;
  /** Stops it early (the next handover cuts the link); its reason, a string, says why. */
  signal?: AbortSignal;
  /** Every answered attempt's answer time (the user heard from its service then). */
  onAnswer?: (answeredMs: number) => void;
}

export interface GapMeasure {
  /** The earliest-sent attempt that was answered, or null. */
  first: { sentMs: number; answeredMs: number } | null;
  /** Why there is none. */
  reason?: string;
}

/**
 * The first request sent after the link came back that the service answered: a fresh attempt every 10 ms
 * (at most one attempt timeout's worth in flight per endpoint, so that attempts stuck at a service that
 * moved away do not starve those at its new place).
 */
export async function firstAnswerAfter(req: GapMeasureRequest): Promise<GapMeasure> {
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const onCut = () => stop.abort();
  req.signal?.addEventListener('abort', onCut, { once: true });
  const start = now();
  let best: { sentMs: number; answeredMs: number } | null = null;
  let resolveFirst: () => void = () => {};
  const firstAnswered = new Promise<void>((r) => {
    resolveFirst = r;
  });
  const maxInFlight = Math.max(1, Math.ceil(req.attemptTimeoutMs / 10));
  const running = new Map<string, number>();
  let asked = false;
  try {
    while (!best && now() - start < req.giveUpMs && !stop.signal.aborted) {
      const endpoint = req.endpoint();
      const key = endpoint ? `${endpoint.address}:${endpoint.port}` : '';
      if (endpoint && (running.get(key) ?? 0) < maxInFlight) {
        asked = true;
        running.set(key, (running.get(key) ?? 0) + 1);
        const target = { ...endpoint, localAddress: req.localAddress };
        void timedPing(target, req.attemptTimeoutMs, req.nextId(), stop.signal).then((p) => {
          running.set(key, (running.get(key) ?? 1) - 1);
          if (!p.ok || stop.signal.aborted) return;
          req.onAnswer?.(p.answeredMs);
          if (!best || p.sentMs < best.sentMs) {
            best = { sentMs: p.sentMs, answeredMs: p.answeredMs };
            resolveFirst();
          }
        });
      }
      await Promise.race([sleep(10, stop.signal), firstAnswered]);
    }
    // Attempts sent earlier than the first answered one may still be answered: give them their time.
    const found = best as { sentMs: number; answeredMs: number } | null;
    if (found)
      await sleep(Math.min(req.attemptTimeoutMs, Math.max(0, found.answeredMs - found.sentMs)), stop.signal);
  } finally {
    req.signal?.removeEventListener('abort', onCut);
    // Attempts still under way end with their own time limit (their connections closed if open); nothing
    // waits for them.
    stop.abort();
  }
  if (best) return { first: best };
  if (req.signal?.aborted)
    return { first: null, reason: typeof req.signal.reason === 'string' ? req.signal.reason : 'cut off' };
  if (!asked) return { first: null, reason: 'no endpoint to measure against' };
  return { first: null, reason: `no answer within ${Math.round(req.giveUpMs / 1000)} s` };
}

/** How long a handover's gap is waited for at most. */
export const GAP_GIVE_UP_MS = 10_000;

/**
 * One handover on its own (`edgectl mu handover`): the ping before, the radio event, then the gap measured
 * against the user's service.
 */
export async function performHandover(exec: Executor, req: HandoverRequest): Promise<HandoverOutcome> {
  const table = req.tables[req.to];
  if (table === undefined) throw new HandoverError(`unknown base station ${req.to}`);
  const rule = await readUserRule(exec, req.user, req.address, req.tables);
  const target = req.endpoint ? { ...req.endpoint, localAddress: req.address } : null;
  let pingId = 2_000_000;
  const nextId = () => ++pingId;

  // The last answer before: one ping just before the link goes down.
  const lastOkMs = target ? await pingBefore(target, req.attemptTimeoutMs, nextId(), req.startAt) : null;
  if (req.startAt !== undefined && req.startAt > now()) await sleep(req.startAt - now(), req.signal);
  const ev = await radioEvent(exec, {
    user: req.user,
    address: req.address,
    to: req.to,
    table,
    rule,
    blackoutMs: req.blackoutMs,
    leakTarget: target,
    attemptTimeoutMs: req.attemptTimeoutMs,
    nextId,
    ...(req.signal ? { signal: req.signal } : {}),
  });
  if (!ev.aborted) req.onSwitched?.();

  let gapMs: number | null = null;
  let answerGapMs: number | null = null;
  if (target && !ev.aborted) {
    const { first } = await firstAnswerAfter({
      endpoint: () => req.endpoint,
      localAddress: req.address,
      attemptTimeoutMs: req.attemptTimeoutMs,
      nextId,
      giveUpMs: GAP_GIVE_UP_MS,
    });
    if (first && lastOkMs !== null) {
      gapMs = first.sentMs - lastOkMs;
      answerGapMs = first.answeredMs - lastOkMs;
    }
  }
  return {
    from: rule.bs,
    to: ev.aborted ? (rule.bs ?? req.to) : req.to,
    downMs: ev.downMs,
    linkDownMs: ev.upMs - ev.downMs,
    gapMs,
    answerGapMs,
    leaked: await ev.leaked,
    aborted: ev.aborted,
  };
}
