/**
 * Tasks for services that do not speak edgectl's task protocol (hosts.yml's `offload`): `http` (a POST of
 * the task's bytes to a path, ok on a 2xx answer) and `echo` (TCP: the bytes written and read back). The
 * same stream as sendTasks: one task at a time, from the user's own address, a broken or silent connection
 * reopened with backoff and the task sent again within its budget and a bounded number of retries (that
 * time counts in its E2E). The service's processing time is not known in these modes: procMs is null.
 */
import { EchoConnection, EchoMismatchError } from './client-echo.js';
import { type HttpAnswer, HttpAnswerError, httpTaskAgent, postTask } from './client-http.js';
import type { OffloadTarget } from './task-socket.js';
import {
  runTaskStream,
  type TaskFailed,
  type TaskResultBase,
  type TaskStreamOptions,
} from './task-stream.js';

/** How a stream sends its tasks, besides edgectl's protocol (sendTasks). */
export type TaskMode = { kind: 'http'; path: string } | { kind: 'echo' };

export interface ModeTaskOk extends TaskResultBase {
  ok: true;
  /** http: the answer's JSON `counter` (null when it has none); echo: always null. */
  counter: number | null;
  /** Not known in these modes. */
  procMs: null;
  /** http: the answer's status. */
  status?: number;
}

export interface ModeTaskFailed extends TaskFailed {
  /** http: the answer's status when one came (not 2xx). */
  status?: number;
}

export type ModeTaskResult = ModeTaskOk | ModeTaskFailed;

/** The stream's options (count, sizeBytes, timeoutMs, maxRetries, intervalMs, ids, payload, signal: runTaskStream's). */
export interface SendModeTasksOptions
  extends OffloadTarget,
    Omit<TaskStreamOptions<ModeTaskResult>, 'attemptTimeoutMs' | 'expectedMs' | 'learn' | 'coded'> {
  mode: TaskMode;
  /**
   * How long one attempt waits before it is dropped and retried (default: timeoutMs). An attempt waits
   * this plus twice the longest E2E of the last few tasks: a service slow to answer is not a silent path.
   */
  attemptTimeoutMs?: number;
  /** Time limit of one connect (echo; default 3000 ms, never past the task's budget). */
  connectTimeoutMs?: number;
  /** http: the most answer bytes read (default 1 MiB). */
  maxAnswerBytes?: number;
  /** http: sent as x-edgectl-user. */
  user?: string;
}

/** One attempt at one task; `close` drops whatever connection the mode keeps. */
interface ModeSender {
  attempt(payload: Buffer, id: number, timeoutMs: number, left: number): Promise<HttpAnswer | undefined>;
  close(): void;
}

function httpSender(options: SendModeTasksOptions, path: string): ModeSender {
  const agent = httpTaskAgent();
  return {
    attempt: (body, id, timeoutMs) =>
      postTask({
        address: options.address,
        port: options.port,
        ...(options.localAddress ? { localAddress: options.localAddress } : {}),
        path,
        body,
        timeoutMs,
        agent,
        ...(options.maxAnswerBytes !== undefined ? { maxAnswerBytes: options.maxAnswerBytes } : {}),
        ...(options.user !== undefined ? { user: options.user } : {}),
        id,
      }),
    close: () => agent.destroy(),
  };
}

function echoSender(options: SendModeTasksOptions): ModeSender {
  const target: OffloadTarget = {
    address: options.address,
    port: options.port,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  };
  const connectTimeoutMs = options.connectTimeoutMs ?? 3000;
  let conn: EchoConnection | undefined;
  return {
    attempt: async (bytes, _id, timeoutMs, left) => {
      if (!conn || conn.closed) conn = await EchoConnection.open(target, Math.min(connectTimeoutMs, left));
      try {
        await conn.echo(bytes, timeoutMs);
      } catch (err) {
        conn.close();
        throw err;
      }
      return undefined;
    },
    close: () => conn?.close(),
  };
}

/**
 * Sends `count` tasks in `mode` and returns one result per task (also passed to onAnswer as it comes).
 * Never throws for network trouble: a task not answered within its budget is a failed result. A non-2xx
 * status, an answer over the size bound or echoed bytes that differ fail the task without a retry.
 */
export async function sendModeTasks(options: SendModeTasksOptions): Promise<ModeTaskResult[]> {
  const { signal } = options;
  const sender = options.mode.kind === 'http' ? httpSender(options, options.mode.path) : echoSender(options);
  // As sendTasks does with processing times, but from E2E (the only time these modes know).
  return runTaskStream<Buffer, ModeTaskResult>(
    {
      prepare: (payload) => Buffer.from(payload),
      attempt: async ({ id, task, waitMs, left, retries, reconnect }) => {
        if (retries > 0) reconnect();
        const answer = await sender.attempt(task, id, waitMs, left());
        if (signal?.aborted) return undefined;
        if (answer && (answer.status < 200 || answer.status > 299))
          return (base) => ({
            ...base,
            ok: false,
            error: `service: HTTP ${answer.status}`,
            status: answer.status,
          });
        return (base) => ({
          ...base,
          ok: true,
          counter: answer ? answer.counter : null,
          procMs: null,
          ...(answer ? { status: answer.status } : {}),
        });
      },
      close: () => sender.close(),
    },
    {
      ...options,
      learn: (r) => r.e2eMs,
      coded: (err): err is HttpAnswerError | EchoMismatchError =>
        err instanceof HttpAnswerError || err instanceof EchoMismatchError,
    },
  );
}
