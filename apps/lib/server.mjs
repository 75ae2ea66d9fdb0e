// The TCP server both bundled services run: framing, the shared task counter, error answers, logging and
// a clean shutdown, and the ring of state digests. A service supplies `handle`, the work done for one
// task, and `state`, what it keeps beside the counter.
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  decodeTask,
  encodeAnswer,
  FrameDecoder,
  FrameTooLargeError,
  MAX_FRAME_BYTES,
  TaskError,
} from './framing.mjs';

/** Milliseconds rounded to microseconds, so answers stay short. */
export function roundMs(ms) {
  return Math.round(ms * 1000) / 1000;
}

/** Logs one JSON line to stderr (stdout stays free). */
export function log(fields) {
  process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), ...fields })}\n`);
}

/** Ends the process with one JSON line on stderr naming what is wrong (bad env, port in use...). */
export function fatal(service, message) {
  log({ service, event: 'fatal', error: message });
  process.exit(1);
}

/** An integer environment variable within [min, max], or `fallback` when unset or empty. */
export function intEnv(service, name, fallback, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    fatal(service, `${name} must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
}

/** The client's address as this service sees it (after any NAT on the way), without an IPv4-mapped prefix. */
function peerOf(socket) {
  return String(socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

/** JSON with every object's keys sorted, so equal states give equal bytes whatever their insertion order. */
export function canonicalJson(value) {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** 32 hex digits: the first 128 bits of the sha256 of the state's canonical JSON. */
export function stateDigestOf(state) {
  return createHash('sha256').update(canonicalJson(state)).digest('hex').slice(0, 32);
}

/** Tasks one connection may have read and not yet answered before the service stops reading it. */
export const PENDING_MAX = 4;

/** How many counters back a `ping` with `at` can still be answered. */
export const DIGEST_RING = 4096;

/**
 * Starts the service: listens on HOST:PORT (env; PORT=0 picks a free port, logged), answers every task
 * frame with {id, service, counter, procMs, bytes, ...handle()}; a `ping` task answers the current
 * counter and state digest without counting. `handle({header, payload, counter})` may be async; it runs
 * for the task that will get `counter`, one task at a time over all connections (tasks are queued in the
 * order they arrive, so each connection's answers come back in order and the counter and the state move
 * together); it may return extra answer fields, and a throw becomes an error answer (the counter is then
 * not advanced, and the service must then leave its state as it was). `state()` returns the service's
 * state beside the counter (e.g. {galleries}), hashed into the digest after every counted task.
 * `describe()` adds fields to the start log line.
 */
export function runServer({ service, defaultPort, handle, state = () => ({}), describe = () => ({}) }) {
  const port = intEnv(service, 'PORT', defaultPort, 0, 65535);
  const host = process.env.HOST || '0.0.0.0';
  const maxFrameBytes = intEnv(service, 'MAX_FRAME_BYTES', MAX_FRAME_BYTES, 1024, 2 ** 32 - 1);
  let counter = 0;
  const sockets = new Set();
  // counter -> digest of the state after that many tasks, the last DIGEST_RING of them: a migration's
  // check asks for the state at the counter it saw before the checkpoint, even if tasks came since.
  const digests = new Map();
  const record = () => {
    digests.set(counter, stateDigestOf({ counter, ...state() }));
    digests.delete(counter - DIGEST_RING);
  };
  record();

  function pingAnswer(header, payload, peer) {
    const answer = {
      id: header.id,
      service,
      counter,
      procMs: 0,
      bytes: payload.length,
      peer,
      op: 'ping',
      digest: digests.get(counter),
    };
    if (header.at === undefined) return answer;
    const digest = digests.get(header.at);
    if (digest !== undefined) return { ...answer, stateAt: { counter: header.at, digest } };
    const why = header.at > counter ? 'not reached yet' : 'no longer kept';
    return { id: header.id, error: `state after task ${header.at} is ${why}` };
  }

  /** A frame's body decoded once: {task} or, for a malformed one, {error} (answered by answerTask). */
  function decodeOnce(body) {
    try {
      return { task: decodeTask(body) };
    } catch (error) {
      return { error };
    }
  }

  async function answerTask(decoded, peer) {
    const started = performance.now();
    let id = null;
    try {
      if (decoded.error) throw decoded.error;
      const { header, payload } = decoded.task;
      id = header.id;
      if (header.op === 'ping') return pingAnswer(header, payload, peer);
      const extra = (await handle({ header, payload, counter: counter + 1 })) ?? {};
      counter += 1;
      record();
      return {
        id,
        service,
        counter,
        procMs: roundMs(performance.now() - started),
        bytes: payload.length,
        peer,
        ...extra,
      };
    } catch (err) {
      if (err instanceof TaskError) return { id: err.id ?? id, error: err.message };
      log({ service, event: 'task-failed', id, error: String(err?.stack ?? err) });
      return { id, error: `task failed: ${err?.message ?? err}` };
    }
  }

  // One queue of tasks for all connections: each runs after the one before it has been answered, so the
  // counter and the state move one task at a time. A ping does not wait in it: it reads the state as the
  // last finished task left it, at once (a downtime probe asks while frames are being processed).
  let queue = Promise.resolve();
  const runTask = (job) => {
    const run = queue.then(job);
    queue = run.catch(() => {});
    return run;
  };
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const decoder = new FrameDecoder(maxFrameBytes);
    let closing = false;
    // Tasks of this connection read but not answered yet: past PENDING_MAX the socket stops reading (TCP
    // then holds the client back), so a client that sends faster than the service works cannot make it
    // buffer frames without end.
    let pending = 0;
    // This connection's answers, in the order its frames came.
    let answers = Promise.resolve();
    const inOrder = (job) => {
      answers = answers.then(job).catch(() => {});
    };
    socket.on('data', (chunk) => {
      if (closing) return; // draining after a framing error
      decoder.push(chunk);
      for (;;) {
        let body;
        try {
          body = decoder.next();
        } catch (err) {
          if (!(err instanceof FrameTooLargeError)) throw err;
          // The rest of the stream cannot be framed: answer, then half-close and drop what follows.
          closing = true;
          const message = err.message;
          inOrder(() => {
            if (socket.destroyed) return;
            socket.end(encodeAnswer({ id: null, error: message }));
            setTimeout(() => socket.destroy(), 5000).unref();
          });
          return;
        }
        if (body === undefined) return;
        const peer = peerOf(socket);
        pending += 1;
        if (pending >= PENDING_MAX) socket.pause();
        const decoded = decodeOnce(body);
        const working =
          decoded.task?.header.op === 'ping' ? undefined : runTask(() => answerTask(decoded, peer));
        inOrder(async () => {
          const answer = working ? await working : await answerTask(decoded, peer);
          pending -= 1;
          if (socket.destroyed) return;
          socket.write(encodeAnswer(answer));
          if (pending < PENDING_MAX && socket.isPaused()) socket.resume();
        });
      }
    });
    socket.on('error', () => {}); // resets by clients are routine; 'close' follows
    socket.on('close', () => sockets.delete(socket));
  });

  server.on('error', (err) => fatal(service, `cannot listen on ${host}:${port}: ${err.message}`));
  server.listen({ port, host }, () => {
    const address = server.address();
    log({
      service,
      event: 'listening',
      host,
      port: typeof address === 'object' && address ? address.port : port,
      pid: process.pid,
      node: process.version,
      ...describe(),
    });
  });

  let stopping = false;
  function stop(signal) {
    if (stopping) return;
    stopping = true;
    log({ service, event: 'stopping', signal, counter });
    server.close(() => process.exit(0));
    for (const socket of sockets) socket.destroy();
    setTimeout(() => process.exit(0), 2000).unref();
  }
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return server;
}
