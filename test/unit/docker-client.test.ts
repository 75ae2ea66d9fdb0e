import { createServer } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DIAL_STDIO_ARGV,
  dialStdioCommand,
  dockerFor,
  SOCKETS_PER_HOST,
} from '../../src/lib/docker/client.js';
import type { SshPool, SshTarget } from '../../src/lib/remote/index.js';
import { wrapArgv } from '../../src/lib/remote/index.js';

const target = (user: string, sudo: boolean): SshTarget => ({
  name: 'edge1',
  address: '198.18.0.11',
  ssh: { user, port: 22, acceptNewHostKeys: false, sudo, connectTimeoutMs: 5_000 },
});

describe('the dial-stdio channel of a docker client', () => {
  it('runs under sudo -n when the inventory asks for sudo and the ssh user is not root', () => {
    expect(dialStdioCommand(target('lab', true))).toBe('sudo -n -- docker system dial-stdio');
  });

  it('runs docker itself for root, or without sudo', () => {
    expect(dialStdioCommand(target('root', true))).toBe('docker system dial-stdio');
    expect(dialStdioCommand(target('lab', false))).toBe('docker system dial-stdio');
  });

  it('is the command line of the executor’s own wrapping (the probes of hosts check run the same way)', () => {
    for (const t of [target('lab', true), target('root', false)]) {
      expect(dialStdioCommand(t).split(' ')).toEqual(wrapArgv(t, DIAL_STDIO_ARGV));
    }
  });
});

describe('the channels of a docker client', () => {
  // A dockerd stand-in on loopback; each "SSH channel" of the fake pool is a TCP connection to it, handed
  // over a little later, as an exec's channel is.
  const server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ApiVersion: '1.41', Version: 'fake', path: req.url }));
  });
  let port = 0;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const a = server.address();
    port = typeof a === 'object' && a ? a.port : 0;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('opens at most SOCKETS_PER_HOST channels for a burst of requests, and reuses them', async () => {
    const commands: string[] = [];
    const client = {
      exec(command: string, cb: (err: Error | undefined, channel: unknown) => void) {
        commands.push(command);
        setTimeout(() => cb(undefined, connect(port, '127.0.0.1')), 5);
      },
    };
    const pool = { connect: async () => ({ client }) } as unknown as SshPool;
    const docker = dockerFor(pool, target('lab', true));
    const versions = await Promise.all(Array.from({ length: 20 }, () => docker.version()));
    expect(versions.map((v) => v.ApiVersion)).toEqual(Array(20).fill('1.41'));
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.length).toBeLessThanOrEqual(SOCKETS_PER_HOST);
    expect(new Set(commands)).toEqual(new Set(['sudo -n -- docker system dial-stdio']));
    const before = commands.length;
    await docker.version();
    expect(commands.length).toBe(before);
  });

  it('fails the request when the channel cannot be opened', async () => {
    const client = {
      exec(_command: string, cb: (err: Error | undefined, channel: unknown) => void) {
        setTimeout(() => cb(new Error('Channel open failure: open failed'), undefined), 5);
      },
    };
    const pool = { connect: async () => ({ client }) } as unknown as SshPool;
    await expect(dockerFor(pool, target('root', false)).version()).rejects.toThrow(/open failed/);
  });
});
