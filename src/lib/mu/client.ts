/**
 * The offloading client: sends tasks to a bundled service (apps/PROTOCOL.md) one after another on one TCP
 * connection and measures each. A broken connection (a checkpointed, migrated or restarted service closes
 * its connections) is reopened with backoff and the task sent again, within the task's time budget and a
 * bounded number of retries; the time that takes counts in the task's end-to-end time.
 * apps/client.mjs is the same client as a dependency-free script for hosts that only have node.
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  type AnswerOk,
  decodeAnswer,
  encodeTask,
  FrameDecoder,
  isAnswerError,
  makePayload,
  ProtocolError,
  type TaskOp,
} from './protocol.js';

export interface OffloadTarget {
  address: string;
  port: number;
  /** Send from this local address (a user's own address on its mu host). */
  localAddress?: string;
}

/** The connection broke, could not be opened, or went silent: worth reconnecting and trying again. */
export class ConnectionLostError extends Error {
  readonly code = 'CONNECTION_LOST';
  /** No answer came within the attempt's time (the connection itself did not break). */
  readonly timedOut: boolean;
  constructor(message: string, options: { timedOut?: boolean } = {}) {
    super(message);
    this.name = 'ConnectionLostError';
    this.timedOut = options.timedOut === true;
  }
}

interface Pending {
  resolve(body: Buffer): void;
  reject(err: Error): void;
}

/** One TCP connection to a service, carrying one request at a time. */
export class OffloadConnection {
  private readonly decoder = new FrameDecoder();
  private pending: Pending | undefined;
  private isClosed = false;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      this.fail(new ConnectionLostError(`connection lost: ${err.code ?? err.message}`)),
    );
    socket.on('close', () => this.fail(new ConnectionLostError('connection closed by the server')));
  }

  /** Opens a connection; rejects with ConnectionLostError when refused, unreachable or slower than timeoutMs. */
  static open(target: OffloadTarget, timeoutMs: number): Promise<OffloadConnection> {
    const where = `${target.address}:${target.port}`;
    return new Promise((resolve, reject) => {
      const socket = connect({
        host: target.address,
        port: target.port,
        ...(target.localAddress ? { localAddress: target.localAddress } : {}),
      });
      const onError = (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ConnectionLostError(`cannot connect to ${where}: ${err.code ?? err.message}`));
      };
      const timer = setTimeout(
        () => {
          socket.off('error', onError);
          socket.on('error', () => {});
          socket.destroy();
          reject(new ConnectionLostError(`connect to ${where} timed out after ${Math.round(timeoutMs)} ms`));
        },
        Math.max(1, timeoutMs),
      );
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new OffloadConnection(socket));
      });
    });
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /**
   * Writes one task frame and resolves with the next answer body. Rejects with ConnectionLostError when
   * the connection breaks or no answer comes within timeoutMs (then close() it: a late answer would be
   * taken for the next request's).
   */
  request(frame: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.isClosed) return Promise.reject(new ConnectionLostError('connection closed'));
    if (this.pending) return Promise.reject(new Error('a request is already waiting on this connection'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.pending = undefined;
          reject(new ConnectionLostError(`no answer within ${Math.round(timeoutMs)} ms`, { timedOut: true }));
        },
        Math.max(1, timeoutMs),
      );
      this.pending = {
        resolve: (body) => {
          clearTimeout(timer);
          resolve(body);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.socket.write(frame);
    });
  }

  close(): void {
    this.isClosed = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    try {
      this.decoder.push(chunk);
      for (const body of this.decoder.frames()) {
        const pending = this.pending;
        this.pending = undefined;
        pending?.resolve(body);
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      this.socket.destroy();
    }
  }

  private fail(err: Error): void {
    this.isClosed = true;
    const pending = this.pending;
    this.pending = undefined;
    pending?.reject(err);
  }
}

export interface SendTasksOptions extends OffloadTarget {
  /** How many tasks to send, one after another. */
  count: number;
  /** Payload bytes per task (ignored when `payload` is given). */
  sizeBytes: number;
  /** Time budget of one task, reconnects and retries included (default 10000 ms). */
  timeoutMs?: number;
  /**
   * How long to wait for an answer on one connection before dropping it and retrying (default: timeoutMs,
   * i.e. never). Set it below timeoutMs when a path can go silent (packets dropped during a handover).
   */
  attemptTimeoutMs?: number;
  /**
   * The service's processing time per task as known so far (ms; unset: not known yet). An attempt waits
   * attemptTimeoutMs plus twice the longest processing time of the last few answers (this value until
   * there are some): a service that works for a second per frame is not taken for a silent path.
   */
  expectedProcMs?: number;
  /** Time limit of one connect (default 3000 ms, never past the task's budget). */
  connectTimeoutMs?: number;
  /** Retries of one task after a broken connection (default 20). */
  maxRetries?: number;
  /** Start task i at i * intervalMs after the first (default 0: each as soon as the previous is answered). */
  intervalMs?: number;
  /** Sent in every task's header. */
  user?: string;
  /** `ping` asks for the counter without counting (default `task`). */
  op?: TaskOp;
  /** The id of the first task; the next ones count up (default 1). */
  firstId?: number;
  /** Task i carries makePayload(sizeBytes, seed + i) (default seed 1). */
  seed?: number;
  /** The payload of task i (overrides sizeBytes and seed). */
  payload?: (index: number) => Uint8Array;
  /** Called with each task's result as soon as it is known. */
  onAnswer?: (result: TaskResult) => void;
  /** Stops sending: the tasks not finished are left out of the results. */
  signal?: AbortSignal;
}

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

export interface TaskOk extends TaskResultBase {
  ok: true;
  counter: number;
  procMs: number;
  service: string;
  checksum?: string;
  fileLines?: number;
  peer?: string;
  /** What the service found (the answer's own fields: faces, objects, tally...), as it came. */
  result?: Record<string, unknown>;
}

export interface TaskFailed extends TaskResultBase {
  ok: false;
  error: string;
}

export type TaskResult = TaskOk | TaskFailed;

const round3 = (ms: number) => Math.round(ms * 1000) / 1000;
/** How many answers' processing times an attempt's wait is drawn from. */
const PROC_WINDOW = 5;

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Sends `count` tasks to the service at address:port, one at a time, and returns one result per task
 * (also passed to onAnswer as it comes). Never throws for network trouble: a task that cannot be
 * answered within its budget is a failed result and the next task tries again. An error answer from
 * the service fails its task without a retry.
 */
export async function sendTasks(options: SendTasksOptions): Promise<TaskResult[]> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const attemptTimeoutMs = Math.min(options.attemptTimeoutMs ?? timeoutMs, timeoutMs);
  const connectTimeoutMs = options.connectTimeoutMs ?? 3000;
  const maxRetries = options.maxRetries ?? 20;
  const intervalMs = options.intervalMs ?? 0;
  const firstId = options.firstId ?? 1;
  const seed = options.seed ?? 1;
  const { signal } = options;
  const target: OffloadTarget = {
    address: options.address,
    port: options.port,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  };
  const results: TaskResult[] = [];
  // The last few answers' processing times: an attempt's wait grows with what the service takes.
  const recentProcMs: number[] = [options.expectedProcMs ?? 0];
  // While nothing is known of it (no expectedProcMs, no answer yet), the wait doubles after each attempt
  // given up on: a first frame slower than the wait (a busy machine) is then answered on a later attempt,
  // not resent for ever. Once the service's time is known, a silent attempt is a silent path (a handover)
  // and the wait stays as it is.
  let learning = options.expectedProcMs === undefined;
  let extraMs = 0;
  const attemptMs = () => attemptTimeoutMs + Math.max(2 * Math.max(...recentProcMs), extraMs);

  // The first connection is not part of any task's time; when it fails, task 0 retries it (timed).
  let conn: OffloadConnection | undefined = await OffloadConnection.open(target, connectTimeoutMs).catch(
    () => undefined,
  );
  const onAbort = () => conn?.close();
  signal?.addEventListener('abort', onAbort);
  const t0 = performance.now();
  try {
    for (let index = 0; index < options.count && !signal?.aborted; index++) {
      if (intervalMs > 0) await abortableSleep(t0 + index * intervalMs - performance.now(), signal);
      if (signal?.aborted) break;
      const id = firstId + index;
      const payload = options.payload ? options.payload(index) : makePayload(options.sizeBytes, seed + index);
      const frame = encodeTask(
        {
          id,
          ...(options.user !== undefined ? { user: options.user } : {}),
          ...(options.op ? { op: options.op } : {}),
        },
        payload,
      );
      const at = Date.now();
      const started = performance.now();
      const deadline = started + timeoutMs;
      const left = () => deadline - performance.now();
      let reconnects = 0;
      let retries = 0;
      let backoff = 50;
      let result: TaskResult | undefined;
      const base = () => ({
        index,
        id,
        at,
        e2eMs: round3(performance.now() - started),
        bytes: payload.length,
        reconnects,
      });
      while (!result) {
        try {
          if (!conn || conn.closed) {
            reconnects += 1;
            conn = await OffloadConnection.open(target, Math.min(connectTimeoutMs, left()));
            if (signal?.aborted) break;
          }
          const body = await conn.request(frame, Math.min(attemptMs(), left()));
          const answer = decodeAnswer(body);
          if (isAnswerError(answer)) {
            result = { ...base(), ok: false, error: `service: ${answer.error}` };
          } else if (answer.id !== id) {
            conn.close();
            result = {
              ...base(),
              ok: false,
              error: `answer for task ${answer.id} while waiting for task ${id}`,
            };
          } else {
            result = okResult(base(), answer);
            recentProcMs.push(answer.procMs);
            if (recentProcMs.length > PROC_WINDOW) recentProcMs.shift();
            learning = false;
            extraMs = 0;
          }
        } catch (err) {
          conn?.close();
          conn = undefined;
          if (signal?.aborted) break;
          const message = err instanceof Error ? err.message : String(err);
          if (!(err instanceof ConnectionLostError) || retries >= maxRetries || left() <= 0) {
            const why =
              err instanceof ConnectionLostError && retries >= maxRetries && left() > 0
                ? ` (gave up after ${retries} retries)`
                : err instanceof ProtocolError
                  ? ` (${err.code})`
                  : '';
            result = { ...base(), ok: false, error: `${message}${why}` };
          } else {
            retries += 1;
            if (learning && err instanceof ConnectionLostError && err.timedOut)
              extraMs = Math.max(attemptTimeoutMs, 2 * extraMs);
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
    conn?.close();
  }
  return results;
}

function okResult(base: Omit<TaskOk, 'ok' | 'counter' | 'procMs' | 'service'>, answer: AnswerOk): TaskOk {
  return {
    ...base,
    ok: true,
    counter: answer.counter,
    procMs: answer.procMs,
    service: answer.service,
    ...(answer.checksum !== undefined ? { checksum: answer.checksum } : {}),
    ...(answer.fileLines !== undefined ? { fileLines: answer.fileLines } : {}),
    ...(answer.peer !== undefined ? { peer: answer.peer } : {}),
    ...(answer.result !== undefined ? { result: answer.result } : {}),
  };
}

/** One `ping` on a fresh connection: the service's current counter, without counting. */
export async function ping(target: OffloadTarget, timeoutMs = 3000): Promise<AnswerOk & { e2eMs: number }> {
  const started = performance.now();
  const conn = await OffloadConnection.open(target, timeoutMs);
  try {
    const answer = decodeAnswer(
      await conn.request(encodeTask({ id: 0, op: 'ping' }), timeoutMs - (performance.now() - started)),
    );
    if (isAnswerError(answer)) throw new ProtocolError('ERROR_ANSWER', `service: ${answer.error}`);
    return { ...answer, e2eMs: round3(performance.now() - started) };
  } finally {
    conn.close();
  }
}

/**
 * Pings the service every `everyMs` until it answers or `timeoutMs` has passed (then throws the last
 * error): for a service that was just started or restored.
 */
export async function waitForService(
  target: OffloadTarget,
  { timeoutMs = 10_000, everyMs = 50 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<AnswerOk & { e2eMs: number; waitedMs: number }> {
  const started = performance.now();
  for (;;) {
    const left = timeoutMs - (performance.now() - started);
    try {
      const answer = await ping(target, Math.max(1, Math.min(1000, left)));
      return { ...answer, waitedMs: round3(performance.now() - started) };
    } catch (err) {
      if (performance.now() - started + everyMs >= timeoutMs) {
        throw new ConnectionLostError(
          `${target.address}:${target.port} did not answer within ${timeoutMs} ms: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
      await abortableSleep(everyMs);
    }
  }
}
