/**
 * The send loop every task mode shares (edgectl's protocol in client.ts, http and echo in
 * client-modes.ts): tasks one at a time, optionally paced, each within its time budget; an attempt that
 * fails with ConnectionLostError is retried after a backoff, a bounded number of times, and that time
 * counts in the task's E2E. How one attempt is sent and what its answer means is the mode's part.
 */
import { performance } from 'node:perf_hooks';
import { abortableSleep } from '../util/time.js';
import { makePayload } from './protocol.js';
import { ConnectionLostError } from './task-socket.js';

export interface TaskResultBase {
  /** 0-based position in this run. */
  index: number;
  id: number;
  /** When the task was first sent (epoch ms). */
  at: number;
  /** From first sending the task to its answer (ms), reconnects and retries included. */
  e2eMs: number;
  /** Payload bytes. */
  bytes: number;
  /** Connections opened (or tried) while this task was pending: 0 when the open connection carried it. */
  reconnects: number;
}

export interface TaskFailed extends TaskResultBase {
  ok: false;
  error: string;
}

export const round3 = (ms: number) => Math.round(ms * 1000) / 1000;

/** How many answers an attempt's wait is drawn from. */
const LEARN_WINDOW = 5;

/** What one attempt of one task knows. */
export interface AttemptContext<T> {
  index: number;
  id: number;
  /** The mode's form of this task (prepare's answer), the same for every attempt. */
  task: T;
  /** How long this attempt may wait for its answer (ms). */
  waitMs: number;
  /** What is left of the task's budget (ms), now. */
  left(): number;
  /** Attempts of this task given up on so far. */
  retries: number;
  /** Counts a connection opened (or tried) for this task. */
  reconnect(): void;
}

/** A mode's side of the stream. */
export interface TaskSender<T, R> {
  /** The task's form on the wire, built once per task. */
  prepare(payload: Uint8Array, id: number): T;
  /**
   * One attempt: resolves with a builder of the task's result from its timing (`base`), or undefined when
   * the stream was aborted meanwhile. Rejects with ConnectionLostError for a retry; any other error fails
   * the task. It drops a connection it can no longer trust itself.
   */
  attempt(ctx: AttemptContext<T>): Promise<((base: TaskResultBase) => R) | undefined>;
  /** Drops whatever connection the mode keeps (on abort, and at the end). */
  close(): void;
}

export interface TaskStreamOptions<R> {
  /** How many tasks to send, one after another. */
  count: number;
  /** Payload bytes per task (ignored when `payload` is given). */
  sizeBytes: number;
  /** Time budget of one task, reconnects and retries included (default 10000 ms). */
  timeoutMs?: number;
  /** The base wait of one attempt (default: timeoutMs), never past timeoutMs. */
  attemptTimeoutMs?: number;
  /** Retries of one task after a broken connection (default 20). */
  maxRetries?: number;
  /** Start task i at i * intervalMs after the first (default 0). */
  intervalMs?: number;
  /** The id of the first task; the next ones count up (default 1). */
  firstId?: number;
  /** Task i carries makePayload(sizeBytes, seed + i) (default seed 1). */
  seed?: number;
  /** The payload of task i (overrides sizeBytes and seed). */
  payload?: (index: number) => Uint8Array;
  /** Called with each task's result as soon as it is known. */
  onAnswer?: (result: R | TaskFailed) => void;
  /** Stops sending: the tasks not finished are left out of the results. */
  signal?: AbortSignal;
  /**
   * The service's time as known so far (unset: not known yet). An attempt waits attemptTimeoutMs plus
   * twice the longest `learn` of the last few ok results (this value until there are some).
   */
  expectedMs?: number;
  /** The time an ok result tells of the service (edgectl: its processing time; other modes: the E2E). */
  learn(result: R): number;
  /** Errors whose code is worth adding to a failed task's message. */
  coded?: (err: unknown) => err is Error & { code: string };
}

/**
 * Sends `count` tasks through `sender` and returns one result per task (also passed to onAnswer as it
 * comes). Never throws for network trouble: a task not answered within its budget is a failed result
 * and the next task tries again.
 */
export async function runTaskStream<T, R extends TaskResultBase & { ok: boolean }>(
  sender: TaskSender<T, R>,
  options: TaskStreamOptions<R>,
): Promise<(R | TaskFailed)[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const attemptTimeoutMs = Math.min(options.attemptTimeoutMs ?? timeoutMs, timeoutMs);
  const maxRetries = options.maxRetries ?? 20;
  const intervalMs = options.intervalMs ?? 0;
  const firstId = options.firstId ?? 1;
  const seed = options.seed ?? 1;
  const { signal } = options;
  const results: (R | TaskFailed)[] = [];
  // The last few answers' times: an attempt's wait grows with what the service takes.
  const recentMs: number[] = [options.expectedMs ?? 0];
  // While nothing is known of it (no expectedMs, no answer yet), the wait doubles after each attempt
  // given up on: a first answer slower than the wait (a busy machine) then comes on a later attempt, not
  // resent for ever. Once the service's time is known, a silent attempt is a silent path (a handover)
  // and the wait stays as it is.
  let learning = options.expectedMs === undefined;
  let extraMs = 0;
  const attemptMs = () => attemptTimeoutMs + Math.max(2 * Math.max(...recentMs), extraMs);
  const onAbort = () => sender.close();
  signal?.addEventListener('abort', onAbort);
  const t0 = performance.now();
  try {
    for (let index = 0; index < options.count && !signal?.aborted; index++) {
      if (intervalMs > 0) await abortableSleep(t0 + index * intervalMs - performance.now(), signal);
      if (signal?.aborted) break;
      const id = firstId + index;
      const payload = options.payload ? options.payload(index) : makePayload(options.sizeBytes, seed + index);
      const task = sender.prepare(payload, id);
      const at = Date.now();
      const started = performance.now();
      const left = () => started + timeoutMs - performance.now();
      let reconnects = 0;
      let retries = 0;
      let backoff = 50;
      let result: R | TaskFailed | undefined;
      const base = (): TaskResultBase => ({
        index,
        id,
        at,
        e2eMs: round3(performance.now() - started),
        bytes: payload.length,
        reconnects,
      });
      while (!result) {
        try {
          const build = await sender.attempt({
            index,
            id,
            task,
            waitMs: Math.min(attemptMs(), left()),
            left,
            retries,
            reconnect: () => {
              reconnects += 1;
            },
          });
          if (!build) break; // aborted
          const built = build(base());
          result = built;
          if (built.ok) {
            recentMs.push(options.learn(built));
            if (recentMs.length > LEARN_WINDOW) recentMs.shift();
            learning = false;
            extraMs = 0;
          }
        } catch (err) {
          if (signal?.aborted) break;
          const message = err instanceof Error ? err.message : String(err);
          if (!(err instanceof ConnectionLostError) || retries >= maxRetries || left() <= 0) {
            const why =
              err instanceof ConnectionLostError && retries >= maxRetries && left() > 0
                ? ` (gave up after ${retries} retries)`
                : options.coded?.(err)
                  ? ` (${err.code})`
                  : '';
            result = { ...base(), ok: false, error: `${message}${why}` };
          } else {
            retries += 1;
            if (learning && err.timedOut) extraMs = Math.max(attemptTimeoutMs, 2 * extraMs);
            await abortableSleep(Math.min(backoff, left()), signal);
            backoff = Math.min(backoff * 2, 1000);
          }
        }
      }
      if (!result) break; // aborted
      results.push(result);
      options.onAnswer?.(result);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    sender.close();
  }
  return results;
}
