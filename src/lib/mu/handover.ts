/**
 * One handover as the user's machine does it: the radio link goes down (the user's packets dropped both
 * ways: the blackout, 500 ms for the paper's virtual user), then its path switches to the new base station
 * in one in-place rule replacement, and the link comes back. The gap the user saw is measured by pinging
 * its service from its own address: from the last answer before the link went down to the first request
 * sent after it came back that was answered. Both `edgectl mu run` (the agent) and `edgectl mu handover`
 * (what `edgectl handover` runs) do it here, so both measure the same thing.
 */
import { setMaxListeners } from 'node:events';
import { EdgectlError, ExitCode } from '../errors.js';
import { blackoutArgv, blackoutLeftoversArgv, readTableArgv } from '../netem/iptables.js';
import { findUserRule, switchUserArgv } from '../provision/paths.js';
import { type Executor, runChecked, shellJoin } from '../remote/index.js';
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
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });

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

export async function performHandover(exec: Executor, req: HandoverRequest): Promise<HandoverOutcome> {
  const table = req.tables[req.to];
  if (table === undefined) throw new HandoverError(`unknown base station ${req.to}`);
  const rule = await readUserBasestation(exec, req.address, req.tables);
  if (!rule)
    throw new HandoverError(
      `no path rule for user ${req.user} on this machine`,
      'run edgectl provision first',
    );
  const local = { localAddress: req.address };
  const target = req.endpoint ? { ...req.endpoint, ...local } : undefined;
  let pingId = 2_000_000;

  // The last answer before: one ping just before the link goes down.
  let lastOkMs: number | null = null;
  if (target) {
    const ping = timedPing(target, req.attemptTimeoutMs, ++pingId);
    const p =
      req.startAt === undefined
        ? await ping
        : await Promise.race([ping, sleep(Math.max(0, req.startAt - now())).then(() => null)]);
    if (p?.ok) lastOkMs = p.answeredMs;
  }
  if (req.startAt !== undefined && req.startAt > now()) await sleep(req.startAt - now(), req.signal);
  const downMs = now();
  await runChecked(exec, sequence(blackoutArgv('-I', req.user, req.address)), {
    what: `cutting ${req.user}'s radio link`,
  });
  let upMs = downMs;
  let aborted = false;
  let leaked = 0;
  const leaks: Promise<void>[] = [];
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
            const p = await timedPing(target, Math.max(1, req.blackoutMs - t), ++pingId, cut.signal);
            if (p.ok && p.answeredMs < upMs) leaked++;
          }),
        );
      }
    }
    await sleep(downMs + req.blackoutMs - now(), req.signal);
    aborted = req.signal?.aborted === true;
    // Pings still under way count as leaks only if answered before the link came back; they are not
    // waited for (a connect in progress would hold the switch up).
    upMs = Number.POSITIVE_INFINITY;
    cut.abort();
    // The switch and the link coming back, in one command: the user's path never points nowhere.
    const cmds = aborted
      ? []
      : [switchUserArgv({ name: req.user, address: req.address }, table, rule.position)];
    await runChecked(exec, sequence([...cmds, ...blackoutArgv('-D', req.user, req.address)]), {
      what: `switching ${req.user} to ${req.to}`,
    });
    upMs = now();
    if (!aborted) req.onSwitched?.();
  } catch (err) {
    // Whatever failed, the link comes back (on whichever path the rule now names).
    await removeBlackoutLeftovers(exec, req.user).catch(() => 0);
    throw err;
  }

  // The first request sent after the link came back that the service answered: a fresh attempt every 10 ms.
  let gapMs: number | null = null;
  let answerGapMs: number | null = null;
  if (target && !aborted) {
    const first = await firstAnswerAfter(target, req.attemptTimeoutMs, () => ++pingId, 10_000);
    if (first && lastOkMs !== null) {
      gapMs = first.sentMs - lastOkMs;
      answerGapMs = first.answeredMs - lastOkMs;
    }
  }
  await Promise.all(leaks);
  return {
    from: rule.bs,
    to: aborted ? (rule.bs ?? req.to) : req.to,
    downMs,
    linkDownMs: upMs - downMs,
    gapMs,
    answerGapMs,
    leaked,
    aborted,
  };
}

/** Starts a ping every 10 ms until one is answered; the earliest-sent answered one, or null after giveUpMs. */
async function firstAnswerAfter(
  target: Endpoint & { localAddress: string },
  attemptTimeoutMs: number,
  nextId: () => number,
  giveUpMs: number,
): Promise<{ sentMs: number; answeredMs: number } | null> {
  const stop = new AbortController();
  setMaxListeners(0, stop.signal);
  const start = now();
  let best: { sentMs: number; answeredMs: number } | null = null;
  const inFlight: Promise<void>[] = [];
  let resolveFirst: () => void = () => {};
  const firstAnswered = new Promise<void>((r) => {
    resolveFirst = r;
  });
  const maxInFlight = Math.max(1, Math.ceil(attemptTimeoutMs / 10));
  let running = 0;
  while (!best && now() - start < giveUpMs) {
    if (running < maxInFlight) {
      running++;
      inFlight.push(
        timedPing(target, attemptTimeoutMs, nextId(), stop.signal).then((p) => {
          running--;
          if (p.ok && (!best || p.sentMs < best.sentMs)) {
            best = { sentMs: p.sentMs, answeredMs: p.answeredMs };
            resolveFirst();
          }
        }),
      );
    }
    await Promise.race([sleep(10), firstAnswered]);
  }
  // Attempts sent earlier than the first answered one may still be answered: give them their time.
  const found = best as { sentMs: number; answeredMs: number } | null;
  if (found) await sleep(Math.min(attemptTimeoutMs, Math.max(0, found.answeredMs - found.sentMs)));
  stop.abort();
  await Promise.all(inFlight);
  return best;
}
