/**
 * Connections through jump hosts, against two SSH servers of this process (ssh2's server side): the
 * client side is edgectl's real one; the servers only answer (a gateway that opens TCP connections, a
 * host that runs `echo`). The lab's integration test does the same with real sshds.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import ssh2, { type Connection, Server } from 'ssh2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HostUnreachableError } from '../../src/lib/remote/errors.js';
import { knownHostsLine, knownHostsName } from '../../src/lib/remote/known-hosts.js';
import { type SshEndpoint, SshPool, type SshTarget } from '../../src/lib/remote/ssh.js';

const { generateKeyPairSync, parseKey } = ssh2.utils;

function keyPair() {
  const { private: priv } = generateKeyPairSync('ed25519');
  // The public half from the private key: parsing ssh2's own public text fails now and then.
  const parsed = parseKey(priv);
  if (parsed instanceof Error) throw parsed;
  return { priv, blob: parsed.getPublicSSH() };
}

const user = keyPair();
let dir: string;
let keyFile: string;

interface TestServer {
  port: number;
  hostKey: Buffer;
  clients: Connection[];
  forwards: string[];
  /** The keys offered, in order ('user' the accepted one, 'other' any other). */
  offered: string[];
  ended: number;
  refuseForwarding: boolean;
  close(): Promise<void>;
}

function startServer(kind: 'gateway' | 'host'): Promise<TestServer> {
  const hostKey = keyPair();
  const state: TestServer = {
    port: 0,
    hostKey: hostKey.blob,
    clients: [],
    forwards: [],
    offered: [],
    ended: 0,
    refuseForwarding: false,
    close: async () => {
      for (const c of state.clients) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = new Server({ hostKeys: [hostKey.priv] }, (client) => {
    state.clients.push(client);
    client.on('error', () => {});
    client.on('end', () => state.ended++);
    client.on('authentication', (ctx) => {
      if (ctx.method === 'publickey') {
        const which = ctx.key.data.equals(user.blob) ? 'user' : 'other';
        // A key is offered once without a signature, then signed: one entry per key.
        if (state.offered[state.offered.length - 1] !== which) state.offered.push(which);
      }
      if (ctx.method === 'publickey' && ctx.key.data.equals(user.blob)) ctx.accept();
      else ctx.reject(['publickey']);
    });
    client.on('tcpip', (accept, reject, info) => {
      state.forwards.push(`${info.destIP}:${info.destPort}`);
      if (kind !== 'gateway' || state.refuseForwarding) {
        reject();
        return;
      }
      const socket = tcpConnect(info.destPort, info.destIP);
      socket.on('error', () => channel.destroy());
      const channel = accept();
      channel.pipe(socket).pipe(channel);
    });
    client.on('session', (accept) => {
      accept().on('exec', (acceptExec, _reject, info) => {
        const stream = acceptExec();
        stream.write(`${kind} ran: ${info.command}\n`);
        stream.exit(0);
        stream.end();
      });
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      state.port = (server.address() as { port: number }).port;
      resolve(state);
    }),
  );
}

let gateway: TestServer;
let host: TestServer;
let pool: SshPool;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgectl-jump-'));
  keyFile = path.join(dir, 'id');
  writeFileSync(keyFile, user.priv, { mode: 0o600 });
  gateway = await startServer('gateway');
  host = await startServer('host');
});
afterAll(async () => {
  await gateway?.close();
  await host?.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await pool?.closeAll();
  gateway.refuseForwarding = false;
});

function knownHosts(entries: [number, Buffer][]): string {
  const file = path.join(dir, `known_hosts.${Math.random().toString(36).slice(2)}`);
  writeFileSync(
    file,
    entries.map(([port, blob]) => knownHostsLine(knownHostsName('127.0.0.1', port), blob)).join(''),
  );
  return file;
}

function endpoint(name: string, port: number, known: string): SshEndpoint {
  return {
    name,
    address: '127.0.0.1',
    ssh: {
      user: 'root',
      port,
      identityFile: keyFile,
      identityAgent: 'none',
      knownHosts: known,
      acceptNewHostKeys: false,
      sudo: false,
      connectTimeoutMs: 5_000,
    },
  };
}

function behindGateway(known: string): SshTarget {
  const t = endpoint('edge2', host.port, known);
  return { ...t, ssh: { ...t.ssh, via: [endpoint('cloud', gateway.port, known)] } };
}

describe('a host behind a jump host', () => {
  it('runs commands through the gateway, both host keys verified', async () => {
    pool = new SshPool();
    const known = knownHosts([
      [gateway.port, gateway.hostKey],
      [host.port, host.hostKey],
    ]);
    const before = gateway.forwards.length;
    const r = await pool.executor(behindGateway(known)).run(['hostname']);
    expect(r.stdout).toBe('host ran: hostname\n');
    expect(gateway.forwards.slice(before)).toEqual([`127.0.0.1:${host.port}`]);
    // A second command reuses the pooled connection: no new hop.
    await pool.executor(behindGateway(known)).run(['true']);
    expect(gateway.forwards.length).toBe(before + 1);
  });

  it('closes the jump connection with the host connection', async () => {
    pool = new SshPool();
    const known = knownHosts([
      [gateway.port, gateway.hostKey],
      [host.port, host.hostKey],
    ]);
    await pool.connect(behindGateway(known));
    const ended = gateway.ended;
    await pool.closeAll();
    await expect.poll(() => gateway.ended, { timeout: 3_000 }).toBe(ended + 1);
  });

  it('refuses a gateway whose host key is unknown, naming the gateway and the host it leads to', async () => {
    pool = new SshPool();
    const known = knownHosts([[host.port, host.hostKey]]);
    const forwards = gateway.forwards.length;
    const err = await pool.connect(behindGateway(known)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostUnreachableError);
    expect(err).toMatchObject({ host: 'edge2', reason: 'hostkey-unknown', exitCode: 4 });
    expect((err as Error).message).toMatch(/^jump host cloud of edge2: host key of cloud/);
    expect(gateway.forwards.length).toBe(forwards);
  });

  it('refuses the host behind when its key does not match, even through a trusted gateway', async () => {
    pool = new SshPool();
    const known = knownHosts([
      [gateway.port, gateway.hostKey],
      [host.port, gateway.hostKey],
    ]);
    const err = await pool.connect(behindGateway(known)).catch((e: unknown) => e);
    expect(err).toMatchObject({ host: 'edge2', reason: 'hostkey-mismatch' });
  });

  it('says so when the gateway does not forward', async () => {
    pool = new SshPool();
    gateway.refuseForwarding = true;
    const known = knownHosts([
      [gateway.port, gateway.hostKey],
      [host.port, host.hostKey],
    ]);
    const err = await pool.connect(behindGateway(known)).catch((e: unknown) => e);
    expect(err).toMatchObject({ host: 'edge2', reason: 'jump', exitCode: 4 });
    expect((err as HostUnreachableError).hint).toMatch(/AllowTcpForwarding/);
  });
});

describe('the agent', () => {
  let agent: ChildProcess | undefined;
  let socket: string;

  beforeAll(async () => {
    socket = path.join(dir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', socket], { stdio: 'ignore' });
    for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
    execFileSync('ssh-add', ['-q', keyFile], {
      env: { ...process.env, SSH_AUTH_SOCK: socket },
      stdio: 'ignore',
    });
  });
  afterAll(() => {
    if (agent?.pid !== undefined) process.kill(agent.pid);
  });

  it('is tried even when hosts.yml names a key, whose passphrase is then never needed', async () => {
    // A key the servers do not accept, encrypted: were it tried first, its passphrase would be asked for.
    const other = path.join(dir, 'other');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'unused passphrase', '-f', other]);
    let asked = 0;
    pool = new SshPool({
      passphrasePrompt: async () => {
        asked++;
        return undefined;
      },
    });
    const known = knownHosts([
      [gateway.port, gateway.hostKey],
      [host.port, host.hostKey],
    ]);
    const t = behindGateway(known);
    const withAgent = (e: SshEndpoint): SshEndpoint => ({
      ...e,
      ssh: { ...e.ssh, identityFile: other, identityAgent: socket },
    });
    const target: SshTarget = {
      ...withAgent(t),
      ssh: { ...withAgent(t).ssh, via: t.ssh.via?.map(withAgent) },
    };
    const r = await pool.executor(target).run(['id']);
    expect(r.stdout).toBe('host ran: id\n');
    expect(asked).toBe(0);
  });

  it('offers a plain key file first, then the agent', async () => {
    const wrong = path.join(dir, 'wrong');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
    pool = new SshPool();
    const known = knownHosts([[host.port, host.hostKey]]);
    const e = endpoint('edge1', host.port, known);
    host.offered.length = 0;
    const r = await pool
      .executor({ ...e, ssh: { ...e.ssh, identityFile: wrong, identityAgent: socket } })
      .run(['uptime']);
    expect(r.stdout).toBe('host ran: uptime\n');
    expect(host.offered).toEqual(['other', 'user']);
  });

  it('falls back to the file when the agent has no key the host accepts', async () => {
    execFileSync('ssh-add', ['-q', '-D'], {
      env: { ...process.env, SSH_AUTH_SOCK: socket },
      stdio: 'ignore',
    });
    pool = new SshPool();
    const known = knownHosts([[host.port, host.hostKey]]);
    const e = endpoint('edge1', host.port, known);
    const r = await pool.executor({ ...e, ssh: { ...e.ssh, identityAgent: socket } }).run(['uptime']);
    expect(r.stdout).toBe('host ran: uptime\n');
  });
});
