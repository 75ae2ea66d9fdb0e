/**
 * The offloading client: sends tasks to a bundled service (apps/PROTOCOL.md) one after another on one TCP
 * connection and measures each. A broken connection (a checkpointed, migrated or restarted service closes
 * its connections) is reopened with backoff and the task sent again, within the task's time budget and a
 * bounded number of retries; the time that takes counts in the task's end-to-end time.
 * apps/client.mjs is the same client as a dependency-free script for hosts that only have node.
 */
import { performance } from 'node:perf_hooks';
import { abortableSleep } from '../util/time.js';
import {
  type AnswerOk,
  decodeAnswer,
  encodeTask,
  FrameDecoder,
  isAnswerError,
  ProtocolError,
  type TaskOp,
} from './protocol.js';
import { ConnectionLostError, type OffloadTarget, openSocket, TaskSocket } from './task-socket.js';
import { round3, runTaskStream, type TaskFailed, type TaskResultBase } from './task-stream.js';

export { ConnectionLostError, type OffloadTarget } from './task-socket.js';
export type { TaskFailed, TaskResultBase } from './task-stream.js';

interface Pending {
  resolve(body: Buffer): void;
  reject(err: Error): void;
}

/** One TCP connection to a service, carrying one request at a time. */
export class OffloadConnection extends TaskSocket<Pending> {
  private readonly decoder = new FrameDecoder();

  /** Opens a connection; rejects with ConnectionLostError when refused, unreachable or slower than timeoutMs. */
  static async open(target: OffloadTarget, timeoutMs: number): Promise<OffloadConnection> {
    return new OffloadConnection(await openSocket(target, timeoutMs));
  }

  /**
   * Writes one task frame and resolves with the next answer body. Rejects with ConnectionLostError when
   * the connection breaks or no answer comes within timeoutMs (then close() it: a late answer would be
   * taken for the next request's).
   */
  request(frame: Buffer, timeoutMs: number): Promise<Buffer> {
    if (this.closed) return Promise.reject(new ConnectionLostError('connection closed'));
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

  protected onData(chunk: Buffer): void {
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

export type TaskResult = TaskOk | TaskFailed;

/**
 * Sends `count` tasks to the service at address:port, one at a time, and returns one result per task
 * (also passed to onAnswer as it comes). Never throws for network trouble: a task that cannot be
 * answered within its budget is a failed result and the next task tries again. An error answer from
 * the service fails its task without a retry.
 */
export async function sendTasks(options: SendTasksOptions): Promise<TaskResult[]> {
  const connectTimeoutMs = options.connectTimeoutMs ?? 3000;
  const { signal } = options;
  const target: OffloadTarget = {
    address: options.address,
    port: options.port,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  };
  // The first connection is not part of any task's time; when it fails, task 0 retries it (timed).
  let conn: OffloadConnection | undefined = await OffloadConnection.open(target, connectTimeoutMs).catch(
    () => undefined,
  );
  return runTaskStream<Buffer, TaskResult>(
    {
      prepare: (payload, id) =>
        encodeTask(
          {
            id,
            ...(options.user !== undefined ? { user: options.user } : {}),
            ...(options.op ? { op: options.op } : {}),
          },
          payload,
        ),
      attempt: async ({ id, task: frame, waitMs, left, reconnect }) => {
        try {
          if (!conn || conn.closed) {
            reconnect();
            conn = await OffloadConnection.open(target, Math.min(connectTimeoutMs, left()));
            if (signal?.aborted) return undefined;
          }
          const answer = decodeAnswer(await conn.request(frame, waitMs));
          if (isAnswerError(answer))
            return (base) => ({ ...base, ok: false, error: `service: ${answer.error}` });
          if (answer.id !== id) {
            conn.close();
            return (base) => ({
              ...base,
              ok: false,
              error: `answer for task ${answer.id} while waiting for task ${id}`,
            });
          }
          return (base) => okResult(base, answer);
        } catch (err) {
          conn?.close();
          conn = undefined;
          throw err;
        }
      },
      close: () => conn?.close(),
    },
    {
      ...options,
      ...(options.expectedProcMs !== undefined ? { expectedMs: options.expectedProcMs } : {}),
      learn: (r) => (r.ok ? r.procMs : 0),
      coded: (err): err is ProtocolError => err instanceof ProtocolError,
    },
  );
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
