/**
 * The SSH pool (one connection per host, its channels shared by the host's commands, opened by connect.ts)
 * and the executor that runs a command on a host over it.
 */
import type { Duplex } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';
import { destinationOf, openChain, type SshTarget } from './connect.js';
import { KeyStore, type PassphrasePrompt } from './identity.js';
import { shellJoin } from './quote.js';
import type { Executor, RemoteProcess, RunOptions, RunResult, SpawnOptions } from './types.js';

/** The endpoint types and helpers, for the layers that import them from here. */
export { destinationOf, fingerprint, type SshEndpoint, type SshTarget } from './connect.js';

/**
 * How long a new SSH session may take to start its command: the login shell runs first (a user's
 * ~/.bashrc: 0.1-2 s on real machines, 15 s measured for 8 sessions at once on a busy 2-core machine).
 * Time limits of commands start after it.
 */
export const SESSION_START_LIMIT_MS = 120_000;

/** At most this many commands share one connection at once (sshd's MaxSessions defaults to 10). */
const CHANNELS_PER_CONNECTION = 8;

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
