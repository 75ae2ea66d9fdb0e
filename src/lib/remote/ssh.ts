import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import {
  type AnyAuthMethod,
  type AuthHandlerMiddleware,
  Client,
  type ClientChannel,
  type ConnectConfig,
} from 'ssh2';
import { errorMessage } from '../errors.js';
import { HostUnreachableError } from './errors.js';
import { KeyStore, type PassphrasePrompt, SshKeyError } from './identity.js';
import {
  appendKnownHost,
  keyTypeOfBlob,
  knownHostsName,
  readKnownHosts,
  verifyHostKey,
} from './known-hosts.js';
import { shellJoin } from './quote.js';
import type { Executor, RemoteProcess, RunOptions, RunResult, SpawnOptions } from './types.js';

/** How to reach one SSH server (a host, or a jump host on the way to one). */
export interface SshEndpoint {
  name: string;
  address: string;
  ssh: {
    user: string;
    port: number;
    /** The key hosts.yml names: it must exist. */
    identityFile?: string | undefined;
    /** Keys the ssh config names: tried when hosts.yml names none, skipped when missing. */
    configIdentityFiles?: readonly string[] | undefined;
    /** `none`, `SSH_AUTH_SOCK` or a socket path; default: $SSH_AUTH_SOCK. */
    identityAgent?: string | undefined;
    passphraseFile?: string | undefined;
    knownHosts?: string | undefined;
    acceptNewHostKeys: boolean;
    sudo: boolean;
    connectTimeoutMs: number;
    /** Where to connect when not `address` (the ssh config's HostName). */
    hostName?: string | undefined;
    /** The ssh config file these settings came from, for messages. */
    configFile?: string | undefined;
  };
}

/** What the SSH layer needs to know about a host (a subset of the inventory's Host). */
export interface SshTarget extends SshEndpoint {
  ssh: SshEndpoint['ssh'] & {
    /** Jump hosts, in order: the first is connected directly, each next one through the one before. */
    via?: readonly SshEndpoint[] | undefined;
  };
}

/** The address SSH connects to. */
export function destinationOf(endpoint: SshEndpoint): string {
  return endpoint.ssh.hostName ?? endpoint.address;
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
  /** Asks for the passphrase of an encrypted key (on a terminal); absent: never ask. */
  passphrasePrompt?: PassphrasePrompt;
}

export class SshPool {
  private readonly connections = new Map<string, Promise<PooledConnection>>();
  /** One read (one error, one passphrase) per key file for all the pool's hosts. */
  private readonly keys: KeyStore;

  constructor(readonly options: SshPoolOptions = {}) {
    this.keys = new KeyStore(options.passphrasePrompt ? { prompt: options.passphrasePrompt } : {});
  }

  executor(target: SshTarget): Executor {
    return new SshExecutor(this, target);
  }

  /** Connects (or reuses the connection) and throws a HostUnreachableError saying why not. */
  async connect(target: SshTarget): Promise<PooledConnection> {
    const key = [...(target.ssh.via ?? []), target]
      .map((e) => `${e.ssh.user}@${destinationOf(e)}:${e.ssh.port}`)
      .join(' > ');
    let pending = this.connections.get(key);
    if (!pending) {
      pending = openChain(target, this.keys).then(({ client, hostKey }) => {
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

/**
 * Connects to a host, through its jump hosts when it has some: each hop is a full SSH connection (its
 * host key verified against its known_hosts like a direct one), and the next one runs over a TCP
 * connection the hop's sshd opens (a direct-tcpip channel, what `ssh -J` does). The hops live as long as
 * the host's connection: they are closed when it closes, and it closes when one of them drops.
 */
async function openChain(target: SshTarget, keys: KeyStore): Promise<{ client: Client; hostKey: string }> {
  const hops = target.ssh.via ?? [];
  const opened: Client[] = [];
  const closeHops = () => {
    for (const c of [...opened].reverse()) c.end();
  };
  try {
    let sock: Duplex | undefined;
    for (const [k, hop] of hops.entries()) {
      let client: Client;
      try {
        ({ client } = await openConnection(hop, keys, sock));
      } catch (err) {
        if (err instanceof HostUnreachableError) {
          throw new HostUnreachableError(
            target.name,
            err.reason,
            `jump host ${hop.name} of ${target.name}: ${err.message}`,
            err.hint ?? 'run with --verbose',
            err,
          );
        }
        throw err;
      }
      opened.push(client);
      sock = await forwardThrough(client, hop, hops[k + 1] ?? target, target);
    }
    const last = await openConnection(target, keys, sock);
    if (opened.length > 0) {
      last.client.once('close', closeHops);
      for (const c of opened) c.once('close', () => last.client.end());
    }
    return last;
  } catch (err) {
    closeHops();
    throw err;
  }
}

/** A TCP connection from `hop` to the next endpoint's SSH port, for the next connection to run over. */
function forwardThrough(
  client: Client,
  hop: SshEndpoint,
  next: SshEndpoint,
  target: SshTarget,
): Promise<Duplex> {
  const dest = destinationOf(next);
  const { port, connectTimeoutMs } = next.ssh;
  return new Promise<Duplex>((resolve, reject) => {
    let late = false;
    const fail = (why: string, cause?: unknown) =>
      reject(
        new HostUnreachableError(
          target.name,
          'jump',
          `jump host ${hop.name} could not connect to ${next.name} (${dest}:${port}) for ${target.name}: ${why}`,
          `can ${hop.name} reach ${dest}:${port} (try \`ssh -J ${hop.ssh.user}@${destinationOf(hop)}:${hop.ssh.port} ${next.ssh.user}@${dest} -p ${port}\`), and does its sshd allow TCP forwarding (AllowTcpForwarding, and no \`restrict\` on the key)?`,
          cause,
        ),
      );
    const timer = setTimeout(() => {
      late = true;
      fail(`no answer within ${connectTimeoutMs} ms`);
    }, connectTimeoutMs);
    client.forwardOut('127.0.0.1', 0, dest, port, (err, channel) => {
      clearTimeout(timer);
      if (late) channel?.destroy();
      else if (err) fail(errorMessage(err), err);
      else resolve(channel);
    });
  });
}

/** The agent socket to offer keys from, if one is there. */
function agentSocket(endpoint: SshEndpoint): string | undefined {
  const setting = endpoint.ssh.identityAgent;
  if (setting !== undefined && setting.toLowerCase() === 'none') return undefined;
  const socket =
    setting === undefined || setting === 'SSH_AUTH_SOCK' ? process.env['SSH_AUTH_SOCK'] : setting;
  return socket && existsSync(socket) ? socket : undefined;
}

async function openConnection(
  target: SshEndpoint,
  keys: KeyStore,
  sock?: Duplex,
): Promise<{ client: Client; hostKey: string }> {
  const { name } = target;
  const { user, port, identityFile, knownHosts, acceptNewHostKeys, connectTimeoutMs } = target.ssh;
  const address = destinationOf(target);
  const where = `${user}@${address}:${port}`;

  // The files first (a missing key named in hosts.yml is one error for all its hosts, before any
  // connection); their passphrases only when the agent's keys were not accepted.
  const origin = (file: string) =>
    file === identityFile
      ? `ssh.identityFile of host ${name}`
      : `IdentityFile of ${target.ssh.configFile ?? 'the ssh config'}`;
  const files = identityFile !== undefined ? [identityFile] : [...(target.ssh.configIdentityFiles ?? [])];
  const read = (await Promise.all(files.map((f) => keys.read(f, f === identityFile, origin(f))))).filter(
    (r) => r !== undefined,
  );
  const agent = agentSocket(target);

  const knownName = knownHostsName(address, port);
  const known = knownHosts ? await readKnownHosts(knownHosts) : [];
  let keyProblem: { verdict: string; fp: string } | undefined;
  let newKey: Buffer | undefined;
  let seenKey: Buffer | undefined;
  let keyError: unknown;
  const tried: string[] = [];

  // Unencrypted key files first: the key hosts.yml names is meant for these hosts, and an agent holding
  // many keys would otherwise spend sshd's MaxAuthTries (6 by default) before it. Then the agent's keys,
  // then the encrypted files: their passphrase is asked for only when nothing else was accepted.
  const fileMethod = (r: (typeof read)[number]) => async (): Promise<AnyAuthMethod> => {
    tried.push(r.file);
    return {
      type: 'publickey',
      username: user,
      key: await keys.usable(r, target.ssh.passphraseFile, origin(r.file)),
    };
  };
  const methods: (() => Promise<AnyAuthMethod | undefined>)[] = [
    ...read.filter((r) => r.parsed).map(fileMethod),
    ...(agent
      ? [
          async (): Promise<AnyAuthMethod> => {
            tried.push(`the agent (${agent})`);
            return { type: 'agent', username: user, agent };
          },
        ]
      : []),
    ...read.filter((r) => !r.parsed).map(fileMethod),
  ];
  const authHandler: AuthHandlerMiddleware = (_left, _partial, nextAuth) => {
    // ssh2 takes `false` for "no more methods" (its types do not say so).
    const next = nextAuth as (method: AnyAuthMethod | false) => void;
    const method = methods.shift();
    if (!method) {
      next(false);
      return;
    }
    method().then(
      (m) => next(m ?? false),
      (err: unknown) => {
        keyError = err;
        next(false);
      },
    );
  };

  const config: ConnectConfig = {
    ...(sock ? { sock } : { host: address, port }),
    username: user,
    readyTimeout: connectTimeoutMs,
    keepaliveInterval: KEEPALIVE_MS,
    keepaliveCountMax: 3,
    authHandler,
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
        if (!sock) client.setNoDelay(true);
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
    // A key that could not be used (encrypted without passphrase, wrong passphrase) is the reason.
    if (keyError instanceof SshKeyError) throw keyError;
    throw classify(target, where, err, keyProblem, tried);
  }
  if (newKey && knownHosts) await appendKnownHost(knownHosts, knownName, newKey);
  const hostKey = seenKey ? `${keyTypeOfBlob(seenKey)} ${seenKey.toString('base64')}` : '';
  return { client, hostKey };
}

function classify(
  target: SshEndpoint,
  where: string,
  err: unknown,
  keyProblem: { verdict: string; fp: string } | undefined,
  tried: readonly string[] = [],
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
      tried.length === 0
        ? `SSH authentication to ${name} (${where}) failed: no key to offer (no ssh.identityFile, no IdentityFile in an ssh config, no agent)`
        : `SSH authentication to ${name} (${where}) failed: not accepted from ${tried.join(', ')}`,
      `check ssh.user and ssh.identityFile of host ${name} in hosts.yml${target.ssh.configFile ? ` (or User and IdentityFile in ${target.ssh.configFile})` : ''}, and that the public key is in ~${target.ssh.user}/.ssh/authorized_keys there`,
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
