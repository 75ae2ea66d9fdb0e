/**
 * The http task mode's request: a POST of the task's bytes to a path of the service, the whole answer read
 * (at most a bound), its status and, when it is a JSON object with an integer `counter`, that counter.
 * Nothing in the answer is trusted: its size is bounded before and while reading, its JSON is parsed
 * only when small enough and looked at only for one integer.
 */
import { Agent, request } from 'node:http';
import { ConnectionLostError, type OffloadTarget } from './task-socket.js';

/** The most answer bytes one task reads by default: more is an error, the connection dropped. */
export const DEFAULT_MAX_ANSWER_BYTES = 1024 * 1024;

/** The service's answer could not be taken as one (too large, or cut short by a bad framing). */
export class HttpAnswerError extends Error {
  readonly code = 'HTTP_ANSWER';
  constructor(message: string) {
    super(message);
    this.name = 'HttpAnswerError';
  }
}

export interface HttpAnswer {
  status: number;
  bytes: number;
  /** The answer's `counter` when it is a JSON object whose counter is a safe integer; null otherwise. */
  counter: number | null;
}

/** The `counter` of a JSON-object answer, null for anything else (not JSON, not an object, not an integer). */
export function answerCounter(body: Buffer): number | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return null;
  const counter = (parsed as Record<string, unknown>)['counter'];
  return typeof counter === 'number' && Number.isSafeInteger(counter) ? counter : null;
}

/**
 * A keep-alive agent of one connection: the tasks of a stream go one after another on it, and a task
 * given up on destroys it, so the next opens a fresh one (through whatever path the user has by then).
 */
export function httpTaskAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 1 });
}

export interface HttpTaskRequest extends OffloadTarget {
  path: string;
  body: Buffer;
  timeoutMs: number;
  maxAnswerBytes?: number;
  agent?: Agent;
  /** Sent as x-edgectl-user and x-edgectl-task (a service may ignore them). */
  user?: string;
  id?: number;
}

/**
 * One POST and its whole answer. Rejects with ConnectionLostError when the connection cannot be opened,
 * breaks, or the answer is not whole within timeoutMs (worth a retry); with HttpAnswerError when the
 * answer is larger than maxAnswerBytes.
 */
export function postTask(req: HttpTaskRequest): Promise<HttpAnswer> {
  const maxBytes = req.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES;
  const where = `${req.address}:${req.port}${req.path}`;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: Error | undefined, answer?: HttpAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        // The connection carries no more tasks: what is still in flight on it would be mistaken for the next answer.
        http.destroy();
        reject(err);
      } else if (answer) resolve(answer);
    };
    const http = request({
      host: req.address,
      port: req.port,
      path: req.path,
      method: 'POST',
      ...(req.agent ? { agent: req.agent } : { agent: false }),
      ...(req.localAddress ? { localAddress: req.localAddress } : {}),
      headers: {
        'content-type': 'application/octet-stream',
        'content-length': String(req.body.length),
        ...(req.user !== undefined ? { 'x-edgectl-user': req.user } : {}),
        ...(req.id !== undefined ? { 'x-edgectl-task': String(req.id) } : {}),
      },
    });
    const timer = setTimeout(
      () =>
        finish(
          new ConnectionLostError(`no whole answer from ${where} within ${Math.round(req.timeoutMs)} ms`, {
            timedOut: true,
          }),
        ),
      Math.max(1, req.timeoutMs),
    );
    http.on('error', (err: NodeJS.ErrnoException) =>
      finish(new ConnectionLostError(`POST ${where}: ${err.code ?? err.message}`)),
    );
    http.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        finish(new HttpAnswerError(`HTTP ${status} answer of ${declared} bytes, more than ${maxBytes}`));
        return;
      }
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        if (bytes > maxBytes) {
          finish(new HttpAnswerError(`HTTP ${status} answer larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err: NodeJS.ErrnoException) =>
        finish(new ConnectionLostError(`answer from ${where} cut: ${err.code ?? err.message}`)),
      );
      res.on('aborted', () => finish(new ConnectionLostError(`answer from ${where} cut short`)));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        finish(undefined, {
          status,
          bytes,
          counter: status >= 200 && status < 300 ? answerCounter(body) : null,
        });
      });
    });
    http.end(req.body);
  });
}
