/**
 * apps/client.mjs --state and --state-at C against a tiny in-process service speaking the framing of
 * apps/lib/framing.mjs, whose pings answer a state digest and the state after a given task from a ring.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface JsFraming {
  encodeAnswer(answer: object): Buffer;
  FrameDecoder: new (max?: number) => { push(chunk: Buffer): void; next(): Buffer | undefined };
}
const framing = (await import(
  fileURLToPath(new URL('../../apps/lib/framing.mjs', import.meta.url))
)) as JsFraming;
const CLIENT = fileURLToPath(new URL('../../apps/client.mjs', import.meta.url));

const digestOf = (counter: number) =>
  createHash('sha256').update(JSON.stringify({ counter })).digest('hex').slice(0, 32);

/** A service at counter 10 keeping the states after tasks 7..10; `digests: false` is one built before them. */
class TinyService {
  readonly headers: Record<string, unknown>[] = [];
  counter = 10;
  digests = true;
  /** Connections to close before answering (the client must reconnect). */
  dropNext = 0;
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((socket) => {
      if (this.dropNext > 0) {
        this.dropNext -= 1;
        socket.destroy();
        return;
      }
      const decoder = new framing.FrameDecoder();
      socket.on('data', (chunk: Buffer) => {
        decoder.push(chunk);
        for (let body = decoder.next(); body !== undefined; body = decoder.next()) {
          const header = JSON.parse(body.subarray(4, 4 + body.readUInt32BE(0)).toString('utf8')) as {
            id: number;
            at?: number;
          };
          this.headers.push(header);
          socket.write(framing.encodeAnswer(this.answer(header)));
        }
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }

  private answer(h: { id: number; at?: number }): object {
    const ping = { id: h.id, service: 'face', counter: this.counter, procMs: 0, bytes: 0, op: 'ping' };
    if (!this.digests) return ping;
    const answer = { ...ping, digest: digestOf(this.counter) };
    if (h.at === undefined) return answer;
    if (h.at > this.counter) return { id: h.id, error: `state after task ${h.at} is not reached yet` };
    if (h.at < this.counter - 3) return { id: h.id, error: `state after task ${h.at} is no longer kept` };
    return { ...answer, stateAt: { counter: h.at, digest: digestOf(h.at) } };
  }

  stop(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function client(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLIENT, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('apps/client.mjs --state and --state-at', () => {
  const service = new TinyService();
  const at = (...more: string[]) => ['--address', '127.0.0.1', '--port', String(service.port), ...more];
  beforeAll(() => service.start());
  afterAll(() => service.stop());

  it('--state prints the counter and the digest of the state after it, as one JSON line', async () => {
    service.headers.length = 0;
    const r = await client(...at('--state'));
    expect(r).toMatchObject({ code: 0, stdout: `{"counter":10,"digest":"${digestOf(10)}"}\n` });
    expect(service.headers).toEqual([{ id: 1, op: 'ping' }]);
  });

  it('--state-at C prints the digest of the state after task C, from the ring', async () => {
    service.headers.length = 0;
    const r = await client(...at('--state-at', '8'));
    expect(r).toMatchObject({ code: 0, stdout: `{"counter":8,"digest":"${digestOf(8)}"}\n` });
    expect(service.headers).toEqual([{ id: 1, op: 'ping', at: 8 }]);
  });

  it('--state-at exits 1 with the error when the state is no longer kept or not reached yet', async () => {
    const gone = await client(...at('--state-at', '6'));
    expect(gone.code).toBe(1);
    expect(JSON.parse(gone.stdout)).toEqual({
      counter: 6,
      error: 'server: state after task 6 is no longer kept',
    });
    const ahead = await client(...at('--state-at', '11'));
    expect(ahead.code).toBe(1);
    expect(JSON.parse(ahead.stdout)).toEqual({
      counter: 11,
      error: 'server: state after task 11 is not reached yet',
    });
  });

  it('a service that keeps no digests: --state prints no digest, --state-at fails', async () => {
    service.digests = false;
    try {
      expect(await client(...at('--state'))).toMatchObject({ code: 0, stdout: '{"counter":10}\n' });
      const r = await client(...at('--state-at', '10'));
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toEqual({
        counter: 10,
        error: 'the face service keeps no state digests (built before them)',
      });
    } finally {
      service.digests = true;
    }
  });

  it('reconnects when the connection breaks (a service just restored), within --timeout-ms', async () => {
    service.dropNext = 2;
    const r = await client(...at('--state-at', '9', '--timeout-ms', '5000'));
    expect(r).toMatchObject({ code: 0, stdout: `{"counter":9,"digest":"${digestOf(9)}"}\n` });
    expect(service.dropNext).toBe(0);
    const refused = await client('--address', '127.0.0.1', '--port', '1', '--state', '--timeout-ms', '300');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toEqual({ error: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('exits 2 on bad usage', async () => {
    for (const bad of [
      ['--state', '--ping'],
      ['--state', '--state-at', '3'],
      ['--state-at', '-1'],
      ['--state-at', 'x'],
    ])
      expect((await client(...at(...bad))).code).toBe(2);
  });
});
