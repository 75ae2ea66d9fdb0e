/**
 * The bundled services as real processes (`node apps/<app>/server.mjs` on 127.0.0.1), driven by the
 * TypeScript client and by apps/client.mjs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ping, sendTasks, type TaskOk, type TaskResult } from '../../src/lib/mu/client.js';
import { decodeAnswer, encodeTask, FrameDecoder, makePayload } from '../../src/lib/mu/protocol.js';
import { freePort } from '../helpers/sshd.js';

const APPS = fileURLToPath(new URL('../../apps/', import.meta.url));
const HOST = '127.0.0.1';

interface RunningApp {
  app: string;
  port: number;
  proc: ChildProcess;
  /** The JSON lines the app logged on stderr. */
  logs: Record<string, unknown>[];
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

const running = new Set<ChildProcess>();
const tmpDirs: string[] = [];

function tmp(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tmpDirs.push(dir);
  return dir;
}

/** A minimal environment: nothing of the test runner's leaks into the app. */
function appEnv(env: Record<string, string>): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOST, PORT: '0', ...env };
}

function exited(proc: ChildProcess): Promise<number | null> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve(proc.exitCode);
  return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
}

/** Starts an app and resolves once it logged "listening" (with the port it got). */
function startApp(app: string, env: Record<string, string> = {}): Promise<RunningApp> {
  const proc = spawn(process.execPath, [join(APPS, app, 'server.mjs')], {
    env: appEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(proc);
  proc.once('exit', () => running.delete(proc));
  const logs: Record<string, unknown>[] = [];
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error(`${app} did not start: ${buffered}`)), 10_000);
    proc.stderr!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry['event'] === 'listening') {
          clearTimeout(timer);
          resolve({
            app,
            port: entry['port'] as number,
            proc,
            logs,
            stop: () => {
              proc.kill('SIGTERM');
              return exited(proc);
            },
          });
        }
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${app} exited with ${code}: ${buffered} ${JSON.stringify(logs)}`));
    });
  });
}

/** Runs a node script to completion: {code, stdout, stderr}. */
function runNode(args: string[], options: { stdin?: Buffer | string } = {}) {
  const proc = spawn(process.execPath, args, { env: appEnv({}), stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  proc.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  proc.stdin!.end(options.stdin ?? '');
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    proc.once('close', (code) => {
      running.delete(proc);
      resolve({ code, stdout, stderr });
    }),
  );
}

const oks = (results: TaskResult[]): TaskOk[] => {
  const failed = results.filter((r) => !r.ok);
  expect(failed).toEqual([]);
  return results as TaskOk[];
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Sends raw bytes on a fresh connection; resolves with the answers it got and whether the service closed. */
function raw(port: number, bytes: Buffer[], expectAnswers: number) {
  return new Promise<{ answers: Record<string, unknown>[]; closed: boolean }>((resolve, reject) => {
    const socket = connect(port, HOST);
    const decoder = new FrameDecoder();
    const answers: Record<string, unknown>[] = [];
    let closed = false;
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answers, closed });
    };
    const timer = setTimeout(finish, 3000);
    socket.on('data', (chunk: Buffer) => {
      decoder.push(chunk);
      for (const body of decoder.frames())
        answers.push(JSON.parse(body.toString()) as Record<string, unknown>);
      if (answers.length >= expectAnswers && !closed) setTimeout(finish, 100);
    });
    socket.on('end', () => {
      closed = true;
      finish();
    });
    socket.on('error', reject);
    for (const b of bytes) socket.write(b);
  });
}

afterAll(async () => {
  for (const proc of running) proc.kill('SIGKILL');
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

describe('simple', () => {
  let simple: RunningApp;
  beforeAll(async () => {
    simple = await startApp('simple');
  });

  it('logs one JSON line at start', () => {
    expect(simple.logs[0]).toMatchObject({
      service: 'simple',
      event: 'listening',
      host: HOST,
      port: simple.port,
    });
  });

  it('answers each task with the next counter', async () => {
    const results = oks(await sendTasks({ address: HOST, port: simple.port, count: 5, sizeBytes: 100 }));
    expect(results.map((r) => r.counter)).toEqual([1, 2, 3, 4, 5]);
    for (const r of results) {
      expect(r).toMatchObject({ service: 'simple', bytes: 100, reconnects: 0 });
      expect(r.procMs).toBeGreaterThanOrEqual(0);
      expect(r.e2eMs).toBeGreaterThanOrEqual(r.procMs);
      expect(r.checksum).toBeUndefined();
    }
  });

  it('answers a ping with the counter without counting it', async () => {
    const before = await ping({ address: HOST, port: simple.port });
    expect(before).toMatchObject({ service: 'simple', op: 'ping', procMs: 0 });
    const after = await ping({ address: HOST, port: simple.port });
    expect(after.counter).toBe(before.counter);
  });

  it('shares one counter between concurrent connections', async () => {
    const { counter: start } = await ping({ address: HOST, port: simple.port });
    const runs = await Promise.all(
      Array.from({ length: 5 }, () =>
        sendTasks({ address: HOST, port: simple.port, count: 20, sizeBytes: 10 }),
      ),
    );
    const counters = runs.flatMap((r) => oks(r).map((t) => t.counter)).sort((a, b) => a - b);
    expect(counters).toEqual(Array.from({ length: 100 }, (_, i) => start + 1 + i));
    for (const run of runs) {
      const mine = oks(run).map((t) => t.counter);
      expect(mine).toEqual([...mine].sort((a, b) => a - b)); // each connection sees its counters increase
    }
  });

  it('answers malformed tasks with an error and keeps the connection', async () => {
    const { counter } = await ping({ address: HOST, port: simple.port });
    const header = Buffer.from('not json');
    const badJson = Buffer.alloc(8 + header.length);
    badJson.writeUInt32BE(4 + header.length, 0);
    badJson.writeUInt32BE(header.length, 4);
    header.copy(badJson, 8);
    const shortBody = Buffer.from([0, 0, 0, 2, 0, 0]);
    const badId = encodeTask({ id: -3 } as never);
    const { answers, closed } = await raw(simple.port, [badJson, shortBody, badId, encodeTask({ id: 7 })], 4);
    expect(closed).toBe(false);
    expect(answers).toEqual([
      { id: null, error: 'task header is not valid JSON' },
      { id: null, error: 'task of 2 bytes has no 4-byte header length' },
      { id: null, error: 'task header "id" must be a non-negative integer' },
      expect.objectContaining({ id: 7, counter: counter + 1 }),
    ]);
  });

  it('answers an oversized frame with an error, closes that connection, and keeps serving', async () => {
    const huge = Buffer.alloc(4);
    huge.writeUInt32BE(0xfffffff0, 0);
    const { answers, closed } = await raw(simple.port, [encodeTask({ id: 1 }), huge, Buffer.alloc(1000)], 2);
    expect(answers[0]).toMatchObject({ id: 1, service: 'simple' });
    expect(answers[1]).toEqual({
      id: null,
      error: 'frame of 4294967280 bytes exceeds the limit of 67108864 bytes',
    });
    expect(closed).toBe(true);
    oks(await sendTasks({ address: HOST, port: simple.port, count: 1, sizeBytes: 1 }));
    expect(simple.proc.exitCode).toBeNull();
  });

  it('exits 0 on SIGTERM after logging its counter', async () => {
    const app = await startApp('simple');
    oks(await sendTasks({ address: HOST, port: app.port, count: 2, sizeBytes: 1 }));
    expect(await app.stop()).toBe(0);
    expect(app.logs.at(-1)).toMatchObject({ event: 'stopping', signal: 'SIGTERM', counter: 2 });
  });

  it('refuses bad settings and a port in use with one fatal line and exit 1', async () => {
    const fatal = async (app: string, env: Record<string, string>) => {
      const proc = spawn(process.execPath, [join(APPS, app, 'server.mjs')], { env: appEnv(env) });
      running.add(proc);
      let stderr = '';
      proc.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
      });
      expect(await exited(proc)).toBe(1);
      return JSON.parse(stderr.trim()) as Record<string, unknown>;
    };
    expect(await fatal('compute', { PORT: 'abc', DATA_DIR: tmp('edgectl-apps-') })).toMatchObject({
      event: 'fatal',
      error: 'PORT must be an integer from 0 to 65535, got "abc"',
    });
    expect(await fatal('compute', { STATE_MB: '-1', DATA_DIR: tmp('edgectl-apps-') })).toMatchObject({
      error: expect.stringMatching(/^STATE_MB must be/),
    });
    expect(await fatal('simple', { PORT: String(simple.port) })).toMatchObject({
      error: expect.stringMatching(/cannot listen on 127.0.0.1:\d+: .*EADDRINUSE/),
    });
  });
});

describe('compute', () => {
  let compute: RunningApp;
  let dataDir: string;
  beforeAll(async () => {
    dataDir = join(tmp('edgectl-apps-'), 'data'); // does not exist yet: the app creates it
    compute = await startApp('compute', { STATE_MB: '4', DATA_DIR: dataDir });
  });

  it('logs its settings at start', () => {
    expect(compute.logs[0]).toMatchObject({
      service: 'compute',
      event: 'listening',
      stateMB: 4,
      passes: 8,
      dirtyPages: 4,
      dataFile: join(dataDir, 'tasks.log'),
      fileLines: 0,
    });
  });

  it('counts tasks, checksums the filtered payload and appends one line per task', async () => {
    const results = oks(await sendTasks({ address: HOST, port: compute.port, count: 5, sizeBytes: 3000 }));
    expect(results.map((r) => r.counter)).toEqual([1, 2, 3, 4, 5]);
    expect(results.map((r) => r.fileLines)).toEqual([1, 2, 3, 4, 5]);
    for (const r of results) expect(r.checksum).toMatch(/^[0-9a-f]{8}$/);
    expect(new Set(results.map((r) => r.checksum)).size).toBe(5); // five different payloads

    const text = readFileSync(join(dataDir, 'tasks.log'), 'utf8');
    expect(text.length).toBe(5 * 128);
    const lines = text.split('\n').slice(0, -1);
    expect(lines.every((l) => l.length === 127)).toBe(true);
    expect(lines.map((l) => JSON.parse(l))).toEqual(
      results.map((r) => ({
        counter: r.counter,
        id: r.id,
        bytes: 3000,
        checksum: r.checksum,
        t: expect.any(Number),
      })),
    );
  });

  it('gives the same checksum for the same payload, another for another', async () => {
    const same = makePayload(5000, 42);
    const results = oks(
      await sendTasks({
        address: HOST,
        port: compute.port,
        count: 3,
        sizeBytes: 0,
        payload: (i) => (i < 2 ? same : makePayload(5000, 43)),
      }),
    );
    expect(results[0]!.checksum).toBe(results[1]!.checksum);
    expect(results[2]!.checksum).not.toBe(results[0]!.checksum);
  });

  it('does real work: processing time grows with the payload', async () => {
    const small = oks(await sendTasks({ address: HOST, port: compute.port, count: 3, sizeBytes: 2_000 }));
    const big = oks(await sendTasks({ address: HOST, port: compute.port, count: 3, sizeBytes: 1_000_000 }));
    const smallMs = median(small.map((r) => r.procMs));
    const bigMs = median(big.map((r) => r.procMs));
    expect(bigMs).toBeGreaterThan(5);
    expect(bigMs).toBeGreaterThan(smallMs * 20);
    for (const r of big) expect(r.e2eMs).toBeGreaterThanOrEqual(r.procMs);
  });

  it('agrees with apps/client.mjs on payloads and checksums', async () => {
    const cli = await runNode([
      join(APPS, 'client.mjs'),
      '--address',
      HOST,
      '--port',
      String(compute.port),
      '--count',
      '3',
      '--size',
      '4096',
      '--seed',
      '77',
    ]);
    expect(cli.code).toBe(0);
    const lines = cli.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const ts = oks(
      await sendTasks({ address: HOST, port: compute.port, count: 3, sizeBytes: 4096, seed: 77 }),
    );
    expect(lines.map((l) => l['checksum'])).toEqual(ts.map((r) => r.checksum));
  });

  it('holds STATE_MB of real (resident) memory', async () => {
    const rssKb = (pid: number) =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
    const small = await startApp('compute', { STATE_MB: '1', DATA_DIR: tmp('edgectl-apps-') });
    const large = await startApp('compute', { STATE_MB: '96', DATA_DIR: tmp('edgectl-apps-') });
    expect(rssKb(large.proc.pid!) - rssKb(small.proc.pid!)).toBeGreaterThan(80 * 1024);
    await Promise.all([small.stop(), large.stop()]);
  });

  it('finds the lines an earlier process wrote (the data file outlives the process)', async () => {
    const dir = tmp('edgectl-apps-');
    const first = await startApp('compute', { STATE_MB: '1', DATA_DIR: dir });
    oks(await sendTasks({ address: HOST, port: first.port, count: 3, sizeBytes: 10 }));
    expect(await first.stop()).toBe(0);
    const second = await startApp('compute', { STATE_MB: '1', DATA_DIR: dir });
    expect(second.logs[0]).toMatchObject({ fileLines: 3 });
    const [r] = oks(await sendTasks({ address: HOST, port: second.port, count: 1, sizeBytes: 10 }));
    expect(r).toMatchObject({ counter: 1, fileLines: 4 });
    await second.stop();
  });
});

describe('reconnection', () => {
  it('carries on after the service restarts on the same port (with a new counter)', async () => {
    const port = await freePort();
    let app = await startApp('simple', { PORT: String(port) });
    let restart: Promise<void> | undefined;
    const results = await sendTasks({
      address: HOST,
      port,
      count: 8,
      sizeBytes: 10,
      intervalMs: 100,
      onAnswer: (r) => {
        if (r.index === 2) {
          restart = (async () => {
            await app.stop();
            app = await startApp('simple', { PORT: String(port) });
          })();
        }
      },
    });
    await restart;
    const ok = oks(results);
    expect(ok.slice(0, 3).map((r) => r.counter)).toEqual([1, 2, 3]);
    const after = ok.slice(3).map((r) => r.counter);
    expect(after[0]).toBeLessThanOrEqual(2); // the restarted service counts from 1 again
    expect(after).toEqual(Array.from({ length: 5 }, (_, i) => after[0]! + i));
    // Exactly one task needed a new connection: the first one after the restart (it may have tried more
    // than once while the new service started, the more so on a busy machine). Its e2e time is not
    // compared with the others': on loopback a reconnect can be quicker than a busy machine's jitter.
    const reconnected = ok.filter((r) => r.reconnects > 0);
    expect(reconnected).toHaveLength(1);
    expect(reconnected[0]!.reconnects).toBeGreaterThanOrEqual(1);
    expect(reconnected[0]!.counter).toBe(after[0]);
    await app.stop();
  });
});

describe('apps/client.mjs', () => {
  let simple: RunningApp;
  beforeAll(async () => {
    simple = await startApp('simple');
  });

  const args = (port: number, ...more: string[]) => ['--address', HOST, '--port', String(port), ...more];

  it('prints one JSON line per task and exits 0', async () => {
    const { code, stdout } = await runNode([
      join(APPS, 'client.mjs'),
      ...args(simple.port, '--count', '3', '--size', '50'),
    ]);
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(3);
    expect(lines.map((l) => l['counter'])).toEqual([1, 2, 3]);
    for (const [i, l] of lines.entries()) {
      expect(l).toMatchObject({ i, id: i + 1, ok: true, bytes: 50, reconnects: 0, service: 'simple' });
      expect(l['e2eMs']).toEqual(expect.any(Number));
      expect(l['procMs']).toEqual(expect.any(Number));
    }
  });

  it('runs from stdin, as over `ssh host node --input-type=module -`', async () => {
    const { code, stdout } = await runNode(
      ['--input-type=module', '-', ...args(simple.port, '--count', '2', '--ping')],
      {
        stdin: readFileSync(join(APPS, 'client.mjs')),
      },
    );
    expect(code).toBe(0);
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]!['counter']).toBe(lines[1]!['counter']); // pings do not count
  });

  it('exits 1 when tasks fail, 2 on bad usage', async () => {
    const port = await freePort();
    const failed = await runNode([
      join(APPS, 'client.mjs'),
      ...args(port, '--count', '2', '--timeout-ms', '300'),
    ]);
    expect(failed.code).toBe(1);
    const lines = failed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ ok: false, error: expect.stringMatching(/ECONNREFUSED/) });
    expect((await runNode([join(APPS, 'client.mjs'), '--port', '1'])).code).toBe(2);
    expect((await runNode([join(APPS, 'client.mjs'), ...args(simple.port, '--count', 'many')])).code).toBe(2);
    expect((await runNode([join(APPS, 'client.mjs'), ...args(simple.port, '--bogus')])).code).toBe(2);
  });
});

describe('CPU benchmark', () => {
  it('prints a positive score as one JSON line', async () => {
    for (const argv of [
      [join(APPS, 'bench.mjs'), '--ms', '200', '--warmup-ms', '50'],
      [join(APPS, 'compute', 'server.mjs'), '--bench', '--ms=100'],
    ]) {
      const { code, stdout } = await runNode(argv);
      expect(code).toBe(0);
      const lines = stdout.trim().split('\n');
      expect(lines).toHaveLength(1);
      const result = JSON.parse(lines[0]!) as {
        score: number;
        iterations: number;
        ms: number;
        kernel: string;
      };
      expect(result.score).toBeGreaterThan(0);
      expect(result.iterations).toBeGreaterThan(0);
      expect(result.ms).toBeGreaterThanOrEqual(argv.includes('--ms=100') ? 100 : 200);
      expect(result.kernel).toBe('filter3x3-256x256');
      expect(result.score).toBeCloseTo((result.iterations / result.ms) * 1000, 0);
    }
  });

  it('rejects bad arguments', async () => {
    expect((await runNode([join(APPS, 'bench.mjs'), '--ms', '-5'])).code).toBe(2);
    expect((await runNode([join(APPS, 'bench.mjs'), '--fast'])).code).toBe(2);
  });
});

// decodeAnswer is exercised on real service output here too.
it('service answers pass the strict answer decoder', async () => {
  const app = await startApp('compute', { STATE_MB: '1', DATA_DIR: tmp('edgectl-apps-') });
  const { answers } = await raw(app.port, [encodeTask({ id: 5 }, Buffer.alloc(10))], 1);
  expect(decodeAnswer(Buffer.from(JSON.stringify(answers[0])))).toMatchObject({
    id: 5,
    counter: 1,
    fileLines: 1,
  });
  await app.stop();
});
