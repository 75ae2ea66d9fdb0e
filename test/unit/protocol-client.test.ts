/**
 * The offloading client against small in-test servers that misbehave on purpose: connections closed
 * between or during tasks, silence, error answers, wrong ids, nothing listening.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ping, sendTasks, type TaskResult, waitForService } from '../../src/lib/mu/client.js';
import { type Answer, decodeTask, encodeAnswer, FrameDecoder, type Task } from '../../src/lib/mu/protocol.js';

type Reply = Answer | 'close' | 'silent';

interface FakeService {
  port: number;
  /** Every task received, in order (retries included). */
  seen: number[];
  /** When each of `seen` arrived (performance.now(), the client's clock). */
  seenAt: number[];
  connections: number;
  close(): Promise<void>;
}

const servers: FakeService[] = [];

async function fakeService(reply: (task: Task, counter: number, socket: Socket) => Reply, port = 0) {
  const seen: number[] = [];
  const seenAt: number[] = [];
  const sockets = new Set<Socket>();
  let counter = 0;
  const service: FakeService = { port: 0, seen, seenAt, connections: 0, close: async () => {} };
  const server: Server = createServer((socket) => {
    service.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (const body of decoder.frames()) {
        const task = decodeTask(body);
        seen.push(task.header.id);
        seenAt.push(performance.now());
        const answer = reply(task, counter + 1, socket);
        if (answer === 'close') socket.destroy();
        else if (answer !== 'silent') {
          if (!('error' in answer)) counter += 1;
          socket.write(encodeAnswer(answer));
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address();
  service.port = typeof address === 'object' && address ? address.port : 0;
  service.close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  servers.push(service);
  return service;
}

const okAnswer = (task: Task, counter: number): Answer => ({
  id: task.header.id,
  service: 'fake',
  counter,
  procMs: 0.5,
  bytes: task.payload.length,
});

async function refusedPort(): Promise<number> {
  const s = await fakeService(() => 'silent');
  await s.close();
  return s.port;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const target = (s: FakeService) => ({ address: '127.0.0.1', port: s.port });

describe('sendTasks', () => {
  it('sends tasks one after another on one connection and reports each', async () => {
    const s = await fakeService(okAnswer);
    const seenByCallback: TaskResult[] = [];
    const before = Date.now();
    const results = await sendTasks({
      ...target(s),
      count: 4,
      sizeBytes: 123,
      onAnswer: (r) => seenByCallback.push(r),
    });
    expect(results.map((r) => r.ok && r.counter)).toEqual([1, 2, 3, 4]);
    expect(results.map((r) => r.id)).toEqual([1, 2, 3, 4]);
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3]);
    expect(seenByCallback).toEqual(results);
    for (const r of results) {
      expect(r).toMatchObject({ ok: true, bytes: 123, reconnects: 0, procMs: 0.5, service: 'fake' });
      expect(r.e2eMs).toBeGreaterThan(0);
      expect(r.at).toBeGreaterThanOrEqual(before);
    }
    expect(s.connections).toBe(1);
  });

  it('reconnects when the service closes the connection between tasks, and times the reconnect', async () => {
    const s = await fakeService((task, counter, socket) => {
      if (task.header.id === 2) setImmediate(() => socket.destroy());
      return okAnswer(task, counter);
    });
    const results = await sendTasks({ ...target(s), count: 4, sizeBytes: 10, intervalMs: 20 });
    expect(results.every((r) => r.ok)).toBe(true);
    expect(results.map((r) => r.reconnects)).toEqual([0, 0, 1, 0]);
    expect(s.connections).toBe(2);
    expect(s.seen).toEqual([1, 2, 3, 4]);
  });

  it('sends a task again when the connection breaks while it waits for the answer', async () => {
    let dropped = false;
    const s = await fakeService((task, counter) => {
      if (task.header.id === 3 && !dropped) {
        dropped = true;
        return 'close';
      }
      return okAnswer(task, counter);
    });
    const results = await sendTasks({ ...target(s), count: 4, sizeBytes: 10 });
    expect(results.map((r) => r.ok && r.counter)).toEqual([1, 2, 3, 4]);
    expect(results[2]?.reconnects).toBe(1);
    expect(s.seen).toEqual([1, 2, 3, 3, 4]);
    // Task 3's E2E time covers both of its sends (the reconnect and backoff are in it).
    expect(results[2]?.e2eMs).toBeGreaterThanOrEqual((s.seenAt[3] ?? 0) - (s.seenAt[2] ?? 0));
  });

  it('drops a silent connection after attemptTimeoutMs and tries again', async () => {
    let silent = true;
    const s = await fakeService((task, counter) => {
      if (task.header.id === 2 && silent) {
        silent = false;
        return 'silent';
      }
      return okAnswer(task, counter);
    });
    const results = await sendTasks({
      ...target(s),
      count: 3,
      sizeBytes: 1,
      attemptTimeoutMs: 100,
      timeoutMs: 5000,
    });
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    expect(results[1]?.reconnects).toBe(1);
    expect(s.seen).toEqual([1, 2, 2, 3]);
    // The silent connection was dropped for a new one, and task 2's E2E time covers both sends.
    expect(s.connections).toBe(2);
    expect(results[1]?.e2eMs).toBeGreaterThanOrEqual((s.seenAt[2] ?? 0) - (s.seenAt[1] ?? 0));
  });

  it('waits longer for a service that takes long to process, by what its answers say it takes', async () => {
    // Each answer comes 250 ms late and says so (procMs): the path is not silent, the service is busy.
    let counter = 0;
    const s = await fakeService((task, _counter, socket) => {
      setTimeout(() => {
        counter += 1;
        socket.write(encodeAnswer({ ...okAnswer(task, counter), procMs: 250 }));
      }, 250);
      return 'silent';
    });
    const known = await sendTasks({
      ...target(s),
      count: 3,
      sizeBytes: 1,
      attemptTimeoutMs: 100,
      timeoutMs: 5000,
      expectedProcMs: 250,
    });
    expect(known.map((r) => r.ok && r.reconnects)).toEqual([0, 0, 0]);
    expect(s.seen).toEqual([1, 2, 3]);
    // Not known at first: the first task's attempt gives up once and is sent again; the answers teach
    // the client what the service takes, and the next tasks wait for it.
    const learned = await sendTasks({
      ...target(s),
      count: 3,
      firstId: 10,
      sizeBytes: 1,
      attemptTimeoutMs: 100,
      timeoutMs: 5000,
    });
    expect(learned.map((r) => r.ok)).toEqual([true, true, true]);
    expect(learned[0]!.reconnects).toBeGreaterThan(0);
    expect(learned.slice(1).map((r) => r.reconnects)).toEqual([0, 0]);
  });

  it('fails a task on an error answer without retrying it, and carries on', async () => {
    const s = await fakeService((task, counter) =>
      task.header.id === 2 ? { id: 2, error: 'out of cheese' } : okAnswer(task, counter),
    );
    const results = await sendTasks({ ...target(s), count: 3, sizeBytes: 1 });
    expect(results[1]).toMatchObject({ ok: false, error: 'service: out of cheese', reconnects: 0 });
    expect(results.map((r) => r.ok && r.counter)).toEqual([1, false, 2]);
    expect(s.seen).toEqual([1, 2, 3]);
  });

  it('fails a task answered with another id and reconnects for the next', async () => {
    const s = await fakeService((task, counter) => ({
      ...okAnswer(task, counter),
      id: task.header.id === 1 ? 99 : task.header.id,
    }));
    const results = await sendTasks({ ...target(s), count: 2, sizeBytes: 1 });
    expect(results[0]).toMatchObject({ ok: false, error: 'answer for task 99 while waiting for task 1' });
    expect(results[1]).toMatchObject({ ok: true, reconnects: 1 });
  });

  it('gives up within the task budget, or after maxRetries, when nothing listens', async () => {
    const port = await refusedPort();
    const byTime = await sendTasks({ address: '127.0.0.1', port, count: 2, sizeBytes: 1, timeoutMs: 300 });
    for (const r of byTime) {
      expect(r).toMatchObject({ ok: false });
      expect(r.ok === false && r.error).toMatch(/ECONNREFUSED/);
      // It ran out of time, not of retries (maxRetries is far away), after retrying more than once.
      expect(r.ok === false && r.error).not.toMatch(/gave up after/);
      expect(r.reconnects).toBeGreaterThan(1);
    }
    const byCount = await sendTasks({ address: '127.0.0.1', port, count: 1, sizeBytes: 1, maxRetries: 2 });
    expect(byCount[0]).toMatchObject({ ok: false, reconnects: 3 });
    expect(byCount[0]?.ok === false && byCount[0].error).toMatch(/gave up after 2 retries/);
  });

  it('reaches a service that starts late (the first connect is retried inside task 1)', async () => {
    const port = await refusedPort();
    let late: Promise<FakeService> | undefined;
    setTimeout(() => {
      late = fakeService(okAnswer, port);
    }, 150);
    const results = await sendTasks({ address: '127.0.0.1', port, count: 2, sizeBytes: 1 });
    expect(results.map((r) => r.ok)).toEqual([true, true]);
    expect(results[0]?.reconnects).toBeGreaterThan(0);
    // Both tasks reached the late service, once each, on the one connection that got through.
    const s = await late;
    expect(s?.seen).toEqual([1, 2]);
    expect(s?.connections).toBe(1);
  });

  it('paces tasks with intervalMs and stops on abort', async () => {
    const s = await fakeService(okAnswer);
    const paced = await sendTasks({ ...target(s), count: 3, sizeBytes: 1, intervalMs: 100 });
    expect(paced.map((r) => r.ok)).toEqual([true, true, true]);

    // With a long interval, task 2 waits though task 1 is answered: a ping sent after that answer (a
    // whole round trip on a connection of its own) reaches the service first; the abort ends the wait.
    const waiting = new AbortController();
    let seenAfterPing: number[] = [];
    const held = await sendTasks({
      ...target(s),
      count: 2,
      sizeBytes: 1,
      firstId: 50,
      intervalMs: 600_000,
      signal: waiting.signal,
      onAnswer: () =>
        void ping(target(s)).then(() => {
          seenAfterPing = s.seen.slice(3);
          waiting.abort();
        }),
    });
    expect(held.map((r) => r.id)).toEqual([50]);
    expect(seenAfterPing).toEqual([50, 0]);

    const controller = new AbortController();
    const aborted = await sendTasks({
      ...target(s),
      count: 100,
      sizeBytes: 1,
      intervalMs: 30,
      signal: controller.signal,
      onAnswer: (r) => {
        if (r.index === 1) controller.abort();
      },
    });
    expect(aborted).toHaveLength(2);
  });

  it('sends custom payloads and ping ops', async () => {
    const s = await fakeService((task, counter) =>
      task.header.op === 'ping' ? { ...okAnswer(task, counter - 1), op: 'ping' } : okAnswer(task, counter),
    );
    const results = await sendTasks({
      ...target(s),
      count: 2,
      sizeBytes: 0,
      payload: (i) => Buffer.alloc(i + 5),
      user: 'mu1',
      firstId: 10,
    });
    expect(results.map((r) => [r.id, r.bytes])).toEqual([
      [10, 5],
      [11, 6],
    ]);
    const answer = await ping(target(s));
    expect(answer).toMatchObject({ id: 0, op: 'ping', service: 'fake' });
  });
});

describe('waitForService', () => {
  it('waits until a service answers, and gives up after its timeout', async () => {
    const port = await refusedPort();
    setTimeout(
      () => void fakeService((task, counter) => ({ ...okAnswer(task, counter), op: 'ping' }), port),
      150,
    );
    const answer = await waitForService({ address: '127.0.0.1', port }, { timeoutMs: 3000 });
    expect(answer.waitedMs).toBeGreaterThanOrEqual(100);
    const dead = await refusedPort();
    await expect(waitForService({ address: '127.0.0.1', port: dead }, { timeoutMs: 200 })).rejects.toThrow(
      /did not answer within 200 ms.*ECONNREFUSED/,
    );
  });
});
