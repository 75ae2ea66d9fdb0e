// The TCP server both bundled services run: framing, the shared task counter, error answers, logging and
// a clean shutdown. A service only supplies `handle`, the work done for one task.
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

/**
 * Starts the service: listens on HOST:PORT (env; PORT=0 picks a free port, logged), answers every task
 * frame with {id, service, counter, procMs, bytes, ...handle()}; a `ping` task answers the current
 * counter without counting. `handle({header, payload, counter})` runs synchronously for the task that
 * will get `counter`; it may return extra answer fields, and a throw becomes an error answer (the counter
 * is then not advanced). `describe()` adds fields to the start log line.
 */
/** The client's address as this service sees it (after any NAT on the way), without an IPv4-mapped prefix. */
function peerOf(socket) {
  return String(socket.remoteAddress ?? '').replace(/^::ffff:/, '');
}

export function runServer({ service, defaultPort, handle, describe = () => ({}) }) {
  const port = intEnv(service, 'PORT', defaultPort, 0, 65535);
  const host = process.env.HOST || '0.0.0.0';
  const maxFrameBytes = intEnv(service, 'MAX_FRAME_BYTES', MAX_FRAME_BYTES, 1024, 2 ** 32 - 1);
  let counter = 0;
  const sockets = new Set();

  function answerTask(body, peer) {
    const started = performance.now();
    let id = null;
    try {
      const { header, payload } = decodeTask(body);
      id = header.id;
      if (header.op === 'ping') {
        return { id, service, counter, procMs: 0, bytes: payload.length, peer, op: 'ping' };
      }
      const extra = handle({ header, payload, counter: counter + 1 }) ?? {};
      counter += 1;
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

  const server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    const decoder = new FrameDecoder(maxFrameBytes);
    let closing = false;
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
          socket.end(encodeAnswer({ id: null, error: err.message }));
          setTimeout(() => socket.destroy(), 5000).unref();
          return;
        }
        if (body === undefined) return;
        socket.write(encodeAnswer(answerTask(body, peerOf(socket))));
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
