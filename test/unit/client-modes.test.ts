/**
 * The http and echo task modes against real servers on 127.0.0.1: what goes on the wire, what counts as
 * answered, the bounds on what comes back, and the retries after a broken or silent connection.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { answerCounter } from '../../src/lib/mu/client-http.js';
import {
  type ModeTaskResult,
  type SendModeTasksOptions,
  sendModeTasks,
} from '../../src/lib/mu/client-modes.js';
import { makePayload } from '../../src/lib/mu/protocol.js';
import { killServices, startService } from '../helpers/services.js';

const servers: Server[] = [];
afterAll(killServices);
afterEach(async () => {
  for (const s of servers.splice(0)) {
    (s as { closeAllConnections?: () => void }).closeAllConnections?.();
    s.close();
  }
});

async function listen(server: Server): Promise<number> {
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface Seen {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingMessage['headers'];
  body: Buffer;
  peer: string | undefined;
}

/** An HTTP server whose answer to the n-th request (0-based) `handler` writes; every request recorded. */
async function httpService(
  handler: (res: ServerResponse, n: number, req: IncomingMessage) => void,
): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const n = seen.length;
      seen.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks),
        peer: req.socket.remoteAddress,
      });
      handler(res, n, req);
    });
  });
  return { port: await listen(server), seen };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

function run(port: number, more: Partial<SendModeTasksOptions>): Promise<ModeTaskResult[]> {
  return sendModeTasks({
    address: '127.0.0.1',
    port,
    localAddress: '127.0.0.1',
    mode: { kind: 'http', path: '/count' },
    count: 1,
    sizeBytes: 100,
    timeoutMs: 2000,
    attemptTimeoutMs: 500,
    ...more,
  });
}

describe('http task mode', () => {
  it('POSTs the task bytes from the given address; a 2xx answer is ok, its JSON counter the task counter', async () => {
    const { port, seen } = await httpService((res, n) => json(res, 200, { counter: 41 + n, other: 'x' }));
    const results = await run(port, { count: 3, sizeBytes: 5000, seed: 7, user: 'mu1', firstId: 10 });
    expect(results.map((r) => [r.ok, r.ok && r.counter, r.ok && r.procMs, r.ok && r.status])).toEqual([
      [true, 41, null, 200],
      [true, 42, null, 200],
      [true, 43, null, 200],
    ]);
    expect(results.map((r) => [r.id, r.bytes, r.reconnects])).toEqual([
      [10, 5000, 0],
      [11, 5000, 0],
      [12, 5000, 0],
    ]);
    expect(results.every((r) => r.e2eMs > 0)).toBe(true);
    expect(
      seen.map((s) => [s.method, s.url, s.headers['content-type'], s.headers['content-length']]),
    ).toEqual(Array(3).fill(['POST', '/count', 'application/octet-stream', '5000']));
    expect(seen[0]?.body.equals(makePayload(5000, 7))).toBe(true);
    expect(seen[2]?.body.equals(makePayload(5000, 9))).toBe(true);
    expect(seen[0]?.headers['x-edgectl-user']).toBe('mu1');
    expect(seen.map((s) => s.peer)).toEqual(Array(3).fill('127.0.0.1'));
  });

  it('fails a task on a 500 without sending it again, and goes on with the next', async () => {
    const { port, seen } = await httpService((res, n) => json(res, n === 0 ? 500 : 201, { counter: n }));
    const results = await run(port, { count: 2 });
    expect(results[0]).toMatchObject({ ok: false, status: 500, error: 'service: HTTP 500' });
    expect(results[1]).toMatchObject({ ok: true, status: 201, counter: 1 });
    expect(seen).toHaveLength(2);
  });

  it('gives up on an answer slower than the task budget, after retrying on fresh connections', async () => {
    const { port, seen } = await httpService(() => {}); // never answers
    const [r] = await run(port, { timeoutMs: 600, attemptTimeoutMs: 150 });
    expect(r?.ok).toBe(false);
    expect(r?.ok === false && r.error).toMatch(/no whole answer/);
    expect(r?.e2eMs).toBeGreaterThanOrEqual(590);
    expect(seen.length).toBeGreaterThanOrEqual(2);
  });

  it('refuses an answer larger than the bound, declared or not', async () => {
    const big = Buffer.alloc(64 * 1024, 'a');
    const declared = await httpService((res) => {
      res.writeHead(200, { 'content-length': String(big.length) });
      res.end(big);
    });
    const chunked = await httpService((res) => {
      res.writeHead(200);
      for (let i = 0; i < 8; i++) res.write(big.subarray(0, 8192));
      res.end();
    });
    for (const port of [declared.port, chunked.port]) {
      const [r] = await run(port, { maxAnswerBytes: 1024 });
      expect(r?.ok === false && r.error, String(port)).toMatch(/larger than 1024|more than 1024/);
      expect(r?.ok === false && r.error).toMatch(/HTTP_ANSWER/);
    }
  });

  it('takes a counter only from a JSON object whose counter is an integer', async () => {
    const bodies = [
      '{"counter": 3}',
      'not json',
      '{"counter": 1.5}',
      '{"counter": "4"}',
      '[1]',
      '{}',
      'null',
    ];
    const { port } = await httpService((res, n) => {
      res.writeHead(200);
      res.end(bodies[n]);
    });
    const results = await run(port, { count: bodies.length });
    expect(results.map((r) => r.ok && r.counter)).toEqual([3, null, null, null, null, null, null]);
    expect(answerCounter(Buffer.from(`{"counter": ${2 ** 60}}`))).toBeNull();
  });

  it('sends a task again when its connection breaks, the reconnection counted in its E2E', async () => {
    const { port, seen } = await httpService((res, n, req) => {
      if (n === 0) req.socket.destroy();
      else json(res, 200, { counter: n });
    });
    const [r] = await run(port, {});
    expect(r).toMatchObject({ ok: true, counter: 1, reconnects: 1 });
    expect(seen).toHaveLength(2);
  });

  it('fails every task when nothing listens, within each task budget', async () => {
    const { port } = await httpService(() => {});
    servers.pop()?.close();
    const results = await run(port, { count: 2, timeoutMs: 400 });
    expect(results.map((r) => r.ok)).toEqual([false, false]);
    expect(results[0]?.ok === false && results[0].error).toMatch(/ECONNREFUSED/);
  });
});

/** A TCP server that runs `onData` for what each connection sends (default: writes it back). */
async function tcpService(
  onData: (socket: Socket, chunk: Buffer, connection: number) => void = (s, c) => s.write(c),
): Promise<{ port: number; connections: () => number }> {
  let connections = 0;
  const server = createTcpServer((socket) => {
    const n = connections++;
    socket.on('data', (chunk: Buffer) => onData(socket, chunk, n));
    socket.on('error', () => {});
  });
  return { port: await listen(server), connections: () => connections };
}

const echo = (port: number, more: Partial<SendModeTasksOptions>) =>
  run(port, { mode: { kind: 'echo' }, ...more });

describe('echo task mode', () => {
  it('writes the task bytes and reads as many back, on one connection across tasks', async () => {
    const { port, connections } = await tcpService();
    const results = await echo(port, { count: 4, sizeBytes: 200_000 });
    expect(results.map((r) => [r.ok, r.ok && r.counter, r.ok && r.procMs, r.bytes, r.reconnects])).toEqual(
      Array(4).fill([true, null, null, 200_000, 0]),
    );
    expect(connections()).toBe(1);
  });

  it('fails a task whose bytes come back different, without a retry, and reopens for the next', async () => {
    const { port, connections } = await tcpService((s, c, n) => {
      if (n === 0) c[0] = (c[0] ?? 0) ^ 0xff;
      s.write(c);
    });
    const results = await echo(port, { count: 2, sizeBytes: 64 });
    expect(results[0]?.ok === false && results[0].error).toMatch(/differ.*ECHO_MISMATCH/);
    expect(results[1]?.ok).toBe(true);
    expect(connections()).toBe(2);
  });

  it('fails a task when more bytes come back than were sent', async () => {
    const { port } = await tcpService((s, c) => s.write(Buffer.concat([c, c])));
    const [r] = await echo(port, { sizeBytes: 16 });
    expect(r?.ok === false && r.error).toMatch(/more than were sent/);
  });

  it('sends a task again on a fresh connection when the service closes it', async () => {
    const { port, connections } = await tcpService((s, c, n) => (n === 0 ? s.destroy() : s.write(c)));
    const [r] = await echo(port, { sizeBytes: 32 });
    expect(r).toMatchObject({ ok: true, reconnects: 1 });
    expect(connections()).toBe(2);
  });

  it('works with the tcp-echo test service (test/fixtures/tcp-echo), as a real process', async () => {
    const service = await startService('test/fixtures/tcp-echo/server.mjs', {});
    try {
      const results = await echo(service.port, { count: 3, sizeBytes: 100_000 });
      expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    } finally {
      await service.stop();
    }
  });

  it('gives up on a service that reads and never writes back, within the budget', async () => {
    const { port } = await tcpService(() => {});
    const [r] = await echo(port, { sizeBytes: 32, timeoutMs: 500, attemptTimeoutMs: 150 });
    expect(r?.ok === false && r.error).toMatch(/0 of 32 bytes back/);
    expect(r?.e2eMs).toBeGreaterThanOrEqual(490);
  });
});
