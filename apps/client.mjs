#!/usr/bin/env node
// The offloading client as one self-contained file (only node:* imports), for lab hosts that have node
// and nothing else. Copy it over, or pipe it: `ssh host node --input-type=module - --address ... < client.mjs`.
//
//   node client.mjs --address A --port P [--count N] [--size BYTES] [--timeout-ms T] [--interval-ms I]
//                   [--attempt-timeout-ms T] [--connect-timeout-ms T] [--retries R] [--user U] [--seed S] [--ping]
//   node client.mjs --address A --port P (--state | --state-at C) [--timeout-ms T] [--retries R] ...
//
// Sends N tasks of BYTES pseudo-random bytes one after another on one TCP connection (framing:
// PROTOCOL.md) and prints one JSON line per task on stdout:
//   {"i":0,"id":1,"ok":true,"counter":1,"e2eMs":0.41,"procMs":0.01,"bytes":100,"reconnects":0,"service":"simple"}
//   {"i":1,"id":2,"ok":false,"error":"...","e2eMs":10000.2,"bytes":100,"reconnects":7}
// A broken connection (a migrated or restored service closes it) is reopened and the task sent again,
// with backoff, up to --retries times per task and within --timeout-ms per task; e2eMs includes that.
// --state prints the service's counter and the digest of its state after it, {"counter":7,"digest":"<32 hex>"};
// --state-at C the digest of the state after task C, {"counter":C,"digest":"..."}, from the service's ring of
// recent states (a migration's check: tasks that came since do not change it); see PROTOCOL.md.
// Exit status: 0 when every task was answered, 1 when any failed, 2 on bad usage.
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

const MAX_FRAME_BYTES = 64 * 1024 * 1024;

function encodeTask(header, payload) {
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.allocUnsafe(8 + headerBytes.length + payload.length);
  out.writeUInt32BE(4 + headerBytes.length + payload.length, 0);
  out.writeUInt32BE(headerBytes.length, 4);
  out.set(headerBytes, 8);
  out.set(payload, 8 + headerBytes.length);
  return out;
}

/** Deterministic pseudo-random bytes (xorshift32), different for every seed. */
function makePayload(size, seed) {
  const words = new Uint32Array(Math.ceil(size / 4));
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, size);
}

class ConnectionLost extends Error {}

/** One TCP connection carrying one request at a time. */
class Connection {
  constructor(socket) {
    this.socket = socket;
    this.closed = false;
    this.buffer = Buffer.alloc(0);
    this.pending = null;
    socket.setNoDelay(true);
    socket.on('data', (chunk) => this.#onData(chunk));
    socket.on('error', (err) =>
      this.#fail(new ConnectionLost(`connection lost: ${err.code ?? err.message}`)),
    );
    socket.on('close', () => this.#fail(new ConnectionLost('connection closed by the server')));
  }

  static open(address, port, timeoutMs, localAddress) {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: address, port, ...(localAddress ? { localAddress } : {}) });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new ConnectionLost(`connect to ${address}:${port} timed out after ${Math.round(timeoutMs)} ms`),
        );
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new Connection(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new ConnectionLost(`cannot connect to ${address}:${port}: ${err.code ?? err.message}`));
      });
    });
  }

  request(frame, timeoutMs) {
    if (this.closed) return Promise.reject(new ConnectionLost('connection closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = null;
        reject(new ConnectionLost(`no answer within ${Math.round(timeoutMs)} ms`));
      }, timeoutMs);
      this.pending = {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.socket.write(frame);
    });
  }

  close() {
    this.closed = true;
    this.socket.destroy();
  }

  #onData(chunk) {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 4) {
      const length = this.buffer.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) {
        this.#fail(new Error(`answer frame of ${length} bytes exceeds the limit`));
        this.socket.destroy();
        return;
      }
      if (this.buffer.length < 4 + length) return;
      const body = this.buffer.subarray(4, 4 + length);
      this.buffer = this.buffer.subarray(4 + length);
      const pending = this.pending;
      this.pending = null;
      pending?.resolve(body);
    }
  }

  #fail(err) {
    this.closed = true;
    const pending = this.pending;
    this.pending = null;
    pending?.reject(err);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const round = (ms) => Math.round(ms * 1000) / 1000;

/**
 * Sends one task frame and waits for its answer on `link.conn`, reopening a broken connection with
 * backoff, up to o.retries times and until `deadline`. Returns {answer, e2eMs, reconnects}, or {error,
 * e2eMs, reconnects} when no answer came; a wrong answer id closes the connection (the stream is out of step).
 */
async function exchange(link, o, frame, id, started, deadline) {
  let reconnects = 0;
  let retries = 0;
  let backoff = 50;
  for (;;) {
    try {
      if (!link.conn || link.conn.closed) {
        reconnects += 1;
        link.conn = await Connection.open(
          o.address,
          o.port,
          Math.min(o.connectTimeoutMs, deadline - performance.now()),
          o.localAddress,
        );
      }
      const body = await link.conn.request(frame, Math.min(o.attemptTimeoutMs, deadline - performance.now()));
      const answer = JSON.parse(body.toString('utf8'));
      const e2eMs = round(performance.now() - started);
      if (answer.error === undefined && answer.id !== id) {
        link.conn.close();
        return { error: `answer for task ${answer.id} while waiting for ${id}`, e2eMs, reconnects };
      }
      return { answer, e2eMs, reconnects };
    } catch (err) {
      link.conn?.close();
      link.conn = null;
      const left = deadline - performance.now();
      if (!(err instanceof ConnectionLost) || retries >= o.retries || left <= 0) {
        const why = retries >= o.retries && left > 0 ? ` (gave up after ${retries} retries)` : '';
        return { error: `${err.message}${why}`, e2eMs: round(performance.now() - started), reconnects };
      }
      retries += 1;
      await sleep(Math.min(backoff, left));
      backoff = Math.min(backoff * 2, 1000);
    }
  }
}

async function sendTasks(o, onResult) {
  const link = {
    conn: await Connection.open(o.address, o.port, o.connectTimeoutMs, o.localAddress).catch(() => null),
  };
  const t0 = performance.now();
  let failed = 0;
  for (let i = 0; i < o.count; i++) {
    if (o.intervalMs > 0) await sleep(t0 + i * o.intervalMs - performance.now());
    const id = i + 1;
    const payload = makePayload(o.size, o.seed + i);
    const frame = encodeTask(
      { id, ...(o.user ? { user: o.user } : {}), ...(o.ping ? { op: 'ping' } : {}) },
      payload,
    );
    const started = performance.now();
    const { answer, error, e2eMs, reconnects } = await exchange(
      link,
      o,
      frame,
      id,
      started,
      started + o.timeoutMs,
    );
    let result;
    if (error !== undefined) result = { ok: false, error, e2eMs };
    else if (answer.error !== undefined) result = { ok: false, error: `server: ${answer.error}`, e2eMs };
    else {
      const { counter, procMs, checksum, fileLines, service, peer } = answer;
      result = { ok: true, counter, e2eMs, procMs, ...(checksum !== undefined ? { checksum } : {}) };
      if (fileLines !== undefined) result.fileLines = fileLines;
      result.service = service;
      if (peer !== undefined) result.peer = peer;
    }
    if (!result.ok) failed += 1;
    onResult({ i, id, ...result, bytes: payload.length, reconnects });
  }
  link.conn?.close();
  return failed;
}

/**
 * --state and --state-at C: one ping, answered with the service's state digest (PROTOCOL.md). Prints
 * {counter, digest} (the current counter and the digest of the state after it; no digest from a service
 * that keeps none), or {counter: C, digest} of the state after task C; on failure {counter?, error} and 1.
 */
async function askState(o, onLine) {
  const link = { conn: null };
  const started = performance.now();
  const at = o.stateAt;
  const frame = encodeTask({ id: 1, op: 'ping', ...(at !== undefined ? { at } : {}) }, Buffer.alloc(0));
  const { answer, error } = await exchange(link, o, frame, 1, started, started + o.timeoutMs);
  link.conn?.close();
  const fail = (message) => {
    onLine({ ...(at !== undefined ? { counter: at } : {}), error: message });
    return 1;
  };
  if (error !== undefined) return fail(error);
  if (answer.error !== undefined) return fail(`server: ${answer.error}`);
  if (at === undefined) {
    onLine({
      counter: answer.counter,
      ...(typeof answer.digest === 'string' ? { digest: answer.digest } : {}),
    });
    return 0;
  }
  const kept = answer.stateAt;
  if (kept === null || typeof kept !== 'object' || typeof kept.digest !== 'string')
    return fail(`the ${answer.service ?? 'bundled'} service keeps no state digests (built before them)`);
  if (kept.counter !== at) return fail(`asked for the state after task ${at}, got ${kept.counter}'s`);
  onLine({ counter: at, digest: kept.digest });
  return 0;
}

function usage(message) {
  process.stderr.write(
    `${message}\nusage: node client.mjs --address A --port P [--count N] [--size BYTES] [--timeout-ms T]\n` +
      '         [--interval-ms I] [--attempt-timeout-ms T] [--connect-timeout-ms T] [--retries R] [--user U] [--seed S] [--ping]\n' +
      '         [--state | --state-at C]   (the state digest now, or after task C, as one JSON line)\n' +
      "         [--local-address ADDR]   (send from this address: a user's own address on the mu host)\n",
  );
  process.exit(2);
}

function main() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        address: { type: 'string' },
        port: { type: 'string' },
        count: { type: 'string', default: '1' },
        size: { type: 'string', default: '10000' },
        'timeout-ms': { type: 'string', default: '10000' },
        'attempt-timeout-ms': { type: 'string' },
        'connect-timeout-ms': { type: 'string', default: '3000' },
        'interval-ms': { type: 'string', default: '0' },
        retries: { type: 'string', default: '20' },
        user: { type: 'string' },
        'local-address': { type: 'string' },
        seed: { type: 'string', default: '1' },
        ping: { type: 'boolean', default: false },
        state: { type: 'boolean', default: false },
        'state-at': { type: 'string' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    usage(err.message);
  }
  if (values.help) usage('Sends offloading tasks to a bundled edgectl service; one JSON line per task.');
  if (!values.address) usage('--address is required');
  const int = (name, min, max) => {
    const raw = values[name];
    const n = Number(raw);
    if (!/^\d+$/.test(String(raw)) || n < min || n > max)
      usage(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  if (values.port === undefined) usage('--port is required');
  const timeoutMs = int('timeout-ms', 1, 86_400_000);
  const stateAt = values['state-at'] === undefined ? undefined : int('state-at', 0, Number.MAX_SAFE_INTEGER);
  if ([values.ping, values.state, stateAt !== undefined].filter(Boolean).length > 1)
    usage('--ping, --state and --state-at exclude one another');
  const options = {
    address: values.address,
    port: int('port', 1, 65535),
    count: int('count', 0, 1e9),
    size: int('size', 0, MAX_FRAME_BYTES - 64 * 1024),
    timeoutMs,
    attemptTimeoutMs:
      values['attempt-timeout-ms'] === undefined ? timeoutMs : int('attempt-timeout-ms', 1, timeoutMs),
    connectTimeoutMs: int('connect-timeout-ms', 1, 600_000),
    localAddress: values['local-address'],
    intervalMs: int('interval-ms', 0, 86_400_000),
    retries: int('retries', 0, 1e6),
    seed: int('seed', 0, 2 ** 32 - 1),
    user: values.user,
    ping: values.ping,
    stateAt,
  };
  const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
  (values.state || stateAt !== undefined ? askState(options, print) : sendTasks(options, print)).then(
    (failed) => {
      process.exitCode = failed > 0 ? 1 : 0;
    },
    (err) => {
      process.stderr.write(`client failed: ${err?.stack ?? err}\n`);
      process.exitCode = 1;
    },
  );
}

main();
