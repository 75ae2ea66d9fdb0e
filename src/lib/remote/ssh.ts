import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { errorMessage } from '../errors.js';
import { HostUnreachableError } from './errors.js';
import {
  appendKnownHost,
  keyTypeOfBlob,
  knownHostsName,
  readKnownHosts,
  verifyHostKey,
} from './known-hosts.js';
import { shellJoin } from './quote.js';
import type { Executor, RemoteProcess, RunOptions, RunResult, SpawnOptions } from './types.js';

/** What the SSH layer needs to know about a host (a subset of the inventory's Host). */
export interface SshTarget {
  name: string;
  address: string;
  ssh: {
    user: string;
    port: number;
    identityFile?: string | undefined;
    knownHosts?: string | undefined;
    acceptNewHostKeys: boolean;
    sudo: boolean;
    connectTimeoutMs: number;
  };
}

/**
 * How long a new SSH session may take to start its command: the login shell runs first (a user's
 * ~/.bashrc: 0.1-2 s on real machines, 15 s measured for 8 sessions at once on a busy 2-core machine).
 * Time limits of commands start after it.
 */
export const SESSION_START_LIMIT_MS = 120_000;

/** At most this many commands share one connection at once (sshd's MaxSessions defaults to 10). */
const CHANNELS_PER_CONNECTION = 8;
const KEEPALIVE_MS = 5_000;

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}
  async acquire(): Promise<() => void> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    return () => {
      this.active--;
      this.waiting.shift()?.();
    };
  }
}

interface PooledConnection {
  client: Client;
  channels: Semaphore;
  /** The host key this connection verified, as known_hosts writes it: `TYPE BASE64`. */
  hostKey: string;
}

/**
 * One SSH connection per host, opened on first use and shared by every command run on that host.
 * A connection that drops is forgotten, so the next command reconnects.
 */
export interface SshPoolOptions {
  /** Called after every command with its host and result (e.g. to log it under --verbose). */
  onRun?: (host: string, result: RunResult) => void;
}

export class SshPool {
  private readonly connections = new Map<string, Promise<PooledConnection>>();

  constructor(readonly options: SshPoolOptions = {}) {}

  executor(target: SshTarget): Executor {
    return new SshExecutor(this, target);
  }

  /** Connects (or reuses the connection) and throws a HostUnreachableError saying why not. */
  async connect(target: SshTarget): Promise<PooledConnection> {
    const key = `${target.ssh.user}@${target.address}:${target.ssh.port}`;
    let pending = this.connections.get(key);
    if (!pending) {
      pending = openConnection(target).then(({ client, hostKey }) => {
        const forget = () => {
          if (this.connections.get(key) === pending) this.connections.delete(key);
        };
        client.on('close', forget);
        client.on('error', forget);
        return { client, hostKey, channels: new Semaphore(CHANNELS_PER_CONNECTION) };
      });
      this.connections.set(key, pending);
      pending.catch(() => this.connections.delete(key));
    }
    return pending;
  }

  /**
   * A TCP connection opened by the host's sshd to `address:port` (seen from the host: a container's
   * bridge address works), as a stream; rejects when the host cannot connect (refused, unreachable) or
   * not within timeoutMs. No shell and no session start: a direct-tcpip channel of the pooled connection.
   */
  async forwardOut(target: SshTarget, address: string, port: number, timeoutMs = 5_000): Promise<Duplex> {
    const { client, channels } = await this.connect(target);
    const release = await channels.acquire();
    try {
      const stream = await new Promise<ClientChannel>((resolve, reject) => {
        let late = false;
        const timer = setTimeout(() => {
          late = true;
          reject(new Error(`no connection to ${address}:${port} within ${timeoutMs} ms`));
        }, timeoutMs);
        client.forwardOut('127.0.0.1', 0, address, port, (err, ch) => {
          clearTimeout(timer);
          if (late) ch?.destroy();
          else if (err) reject(err);
          else resolve(ch);
        });
      });
      stream.once('close', release);
      return stream;
    } catch (err) {
      release();
      throw err;
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(
      all.map(async (pending) => {
        try {
          const { client } = await pending;
          await new Promise<void>((resolve) => {
            client.once('close', () => resolve());
            client.end();
            setTimeout(resolve, 1_000).unref();
          });
        } catch {
          // never connected: nothing to close
        }
      }),
    );
  }
}

async function openConnection(target: SshTarget): Promise<{ client: Client; hostKey: string }> {
  const { name, address } = target;
  const { user, port, identityFile, knownHosts, acceptNewHostKeys, connectTimeoutMs } = target.ssh;
  const where = `${user}@${address}:${port}`;

  let privateKey: Buffer | undefined;
  if (identityFile) {
    try {
      privateKey = await readFile(identityFile);
    } catch (err) {
      throw new HostUnreachableError(
        name,
        'key-file',
        `cannot read the SSH key ${identityFile} for host ${name}: ${errorMessage(err)}`,
        `check ssh.identityFile of host ${name} in hosts.yml`,
        err,
      );
    }
  }
  const knownName = knownHostsName(address, port);
  const known = knownHosts ? await readKnownHosts(knownHosts) : [];
  let keyProblem: { verdict: string; fp: string } | undefined;
  let newKey: Buffer | undefined;
  let seenKey: Buffer | undefined;

  const config: ConnectConfig = {
    host: address,
    port,
    username: user,
    readyTimeout: connectTimeoutMs,
    keepaliveInterval: KEEPALIVE_MS,
    keepaliveCountMax: 3,
    ...(privateKey ? { privateKey } : { agent: process.env['SSH_AUTH_SOCK'] }),
    hostVerifier: (blob: Buffer) => {
      seenKey = blob;
      const verdict = knownHosts ? verifyHostKey(known, knownName, blob) : 'unknown';
      if (verdict === 'known') return true;
      if (verdict === 'unknown' && acceptNewHostKeys) {
        newKey = blob;
        return true;
      }
      keyProblem = { verdict, fp: fingerprint(blob) };
      return false;
    },
  };

  const client = new Client();
  // Errors after the first (e.g. a late "connection lost" once we gave up) must not crash the process;
  // the first one is classified below, and the pool forgets a client that errs later.
  client.on('error', () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => {
        // Small writes (an agent's commands, its clock answers) go out at once, not after Nagle's wait
        // for the previous segment's ACK (40 ms measured with delayed ACKs on the other side).
        client.setNoDelay(true);
        resolve();
      });
      client.once('error', reject);
      try {
        client.connect(config);
      } catch (err) {
        reject(err);
      }
    });
  } catch (err) {
    client.end();
    throw classify(target, where, err, keyProblem);
  }
  if (newKey && knownHosts) await appendKnownHost(knownHosts, knownName, newKey);
  const hostKey = seenKey ? `${keyTypeOfBlob(seenKey)} ${seenKey.toString('base64')}` : '';
  return { client, hostKey };
}

function classify(
  target: SshTarget,
  where: string,
  err: unknown,
  keyProblem: { verdict: string; fp: string } | undefined,
): HostUnreachableError {
  const { name } = target;
  const { knownHosts, connectTimeoutMs, port } = target.ssh;
  const e = err as Error & { code?: string; level?: string };
  const msg = errorMessage(err);
  if (keyProblem) {
    const file = knownHosts ?? '(no known_hosts file set)';
    if (keyProblem.verdict === 'unknown') {
      return new HostUnreachableError(
        name,
        'hostkey-unknown',
        `host key of ${name} (${where}) is not in ${file}: refused (key ${keyProblem.fp})`,
        `check the fingerprint, then add it with \`ssh-keyscan -p ${port} ${target.address} >> ${file}\`, or set ssh.acceptNewHostKeys: true for host ${name} in hosts.yml`,
      );
    }
    return new HostUnreachableError(
      name,
      'hostkey-mismatch',
      `host key of ${name} (${where}) does not match ${file}${keyProblem.verdict === 'revoked' ? ' (the key is revoked)' : ''}: refused (key ${keyProblem.fp})`,
      `if the host was reinstalled, remove its old line from ${file}; otherwise someone may be intercepting the connection`,
    );
  }
  if (e.code === 'ECONNREFUSED') {
    return new HostUnreachableError(
      name,
      'refused',
      `connection to ${name} (${where}) refused`,
      `is sshd running on ${name}, and is ssh.port (${port}) right in hosts.yml?`,
      err,
    );
  }
  if (e.level === 'client-timeout' || e.code === 'ETIMEDOUT' || /timed out/i.test(msg)) {
    return new HostUnreachableError(
      name,
      'timeout',
      `no SSH answer from ${name} (${where}) within ${connectTimeoutMs} ms`,
      `is host ${name} up and its address right in hosts.yml? (raise ssh.connectTimeoutMs for slow links)`,
      err,
    );
  }
  if (e.level === 'client-authentication') {
    return new HostUnreachableError(
      name,
      'auth',
      `SSH authentication to ${name} (${where}) failed: the key was not accepted`,
      `check ssh.user and ssh.identityFile of host ${name} in hosts.yml, and that its public key is in ~${target.ssh.user}/.ssh/authorized_keys there`,
      err,
    );
  }
  if (e.code === 'EHOSTUNREACH' || e.code === 'ENETUNREACH' || e.code === 'EADDRNOTAVAIL') {
    return new HostUnreachableError(
      name,
      'unreachable',
      `no route to ${name} (${where}): ${e.code}`,
      `is the management network up (for the local lab: \`edgectl lab up\`)?`,
      err,
    );
  }
  if (/privateKey|parse/i.test(msg)) {
    return new HostUnreachableError(
      name,
      'key-file',
      `the SSH key for ${name} cannot be used: ${msg}`,
      `ssh.identityFile must be an unencrypted private key (OpenSSH or PEM format)`,
      err,
    );
  }
  return new HostUnreachableError(
    name,
    'error',
    `SSH to ${name} (${where}) failed: ${msg}`,
    'run with --verbose',
    err,
  );
}

/** The full argv as it runs on a host: sudo (where the inventory asks for it), env and a time limit. */
export function wrapArgv(target: SshTarget, argv: readonly string[], options: RunOptions = {}): string[] {
  const out: string[] = [];
  const { user, sudo } = target.ssh;
  if (sudo && user !== 'root' && options.sudo !== false) out.push('sudo', '-n', '--');
  if (options.env && Object.keys(options.env).length > 0) {
    out.push('env', ...Object.entries(options.env).map(([k, v]) => `${k}=${v}`));
  }
  // The remote side enforces the time limit itself: closing an SSH channel does not stop the command.
  if (options.timeoutMs !== undefined) {
    out.push('timeout', '-k', '1', `${Math.max(0.001, options.timeoutMs / 1000).toFixed(3)}s`);
  }
  out.push(...argv);
  return out;
}

export class SshExecutor implements Executor {
  readonly host: string;

  constructor(
    private readonly pool: SshPool,
    private readonly target: SshTarget,
  ) {
    this.host = target.name;
  }

  /** The full argv as it will run on the host: sudo and env wrappers added. */
  wrap(argv: readonly string[], options: RunOptions = {}): string[] {
    return wrapArgv(this.target, argv, options);
  }

  /**
   * Starts a command that keeps running, with its stdin open for writing and its stdout streamed: one
   * of the connection's channels stays taken until it ends.
   */
  async spawn(argv: readonly string[], options: SpawnOptions): Promise<RemoteProcess> {
    const { client, channels } = await this.pool.connect(this.target);
    const release = await channels.acquire();
    const command = shellJoin(this.wrap(argv, options));
    const started = performance.now();
    try {
      const stream = await new Promise<ClientChannel>((resolve, reject) =>
        client.exec(command, (err, ch: ClientChannel) => (err ? reject(err) : resolve(ch))),
      );
      const errOut: Buffer[] = [];
      const done = new Promise<{ code: number; stderr: string; ms: number }>((resolve) => {
        let settled = false;
        const finish = (code: number) => {
          if (settled) return;
          settled = true;
          release();
          resolve({ code, stderr: Buffer.concat(errOut).toString('utf8'), ms: performance.now() - started });
        };
        stream.on('close', (code: number | null, signal?: string) => finish(code ?? (signal ? 128 : 255)));
        client.once('close', () => finish(255));
      });
      stream.on('data', (d: Buffer) => options.onStdout(d.toString('utf8')));
      stream.stderr.on('data', (d: Buffer) => errOut.push(d));
      // A write after the channel closed is lost, not an error: the caller learns of the end from done.
      stream.on('error', () => {});
      return {
        write: (data) => {
          if (stream.writable) stream.write(data);
        },
        end: () => stream.end(),
        close: () => stream.destroy(),
        done,
      };
    } catch (err) {
      release();
      throw err;
    }
  }

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const { client, channels } = await this.pool.connect(this.target);
    const release = await channels.acquire();
    const command = shellJoin(this.wrap(argv, options));
    const started = performance.now();
    try {
      const result = await new Promise<RunResult>((resolve, reject) => {
        client.exec(command, (err, stream: ClientChannel) => {
          if (err) {
            reject(err);
            return;
          }
          const out: Buffer[] = [];
          const errOut: Buffer[] = [];
          let timedOut = false;
          let settled = false;
          const finish = (code: number) => {
            if (settled) return;
            settled = true;
            if (timer) clearTimeout(timer);
            resolve({
              argv,
              code,
              stdout: Buffer.concat(out).toString('utf8'),
              stderr: Buffer.concat(errOut).toString('utf8'),
              ms: performance.now() - started,
              timedOut,
            });
          };
          // The remote `timeout` enforces the limit, from the command's own start (after the session's
          // login shell). Should it hang, give up on the channel later: after the limit, plus what the
          // login shell may take.
          const timer =
            options.timeoutMs === undefined
              ? undefined
              : setTimeout(() => {
                  timedOut = true;
                  stream.destroy();
                  finish(124);
                }, options.timeoutMs + SESSION_START_LIMIT_MS);
          stream.on('data', (d: Buffer) => {
            out.push(d);
            options.onStdout?.(d.toString('utf8'));
          });
          stream.stderr.on('data', (d: Buffer) => errOut.push(d));
          stream.on('close', (code: number | null, signal?: string) => {
            const exit = code ?? (signal ? 128 : 255);
            // coreutils timeout exits 124 (TERM sufficed) or 137 (KILL needed) when the limit was hit.
            if (options.timeoutMs !== undefined && (exit === 124 || exit === 137)) timedOut = true;
            finish(timedOut ? 124 : exit);
          });
          if (options.stdin !== undefined) stream.end(options.stdin);
          else stream.end();
        });
      });
      this.pool.options.onRun?.(this.host, result);
      return result;
    } finally {
      release();
    }
  }
}
