/**
 * A persistent shell on a host: one SSH channel running `sh -s`, fed one command at a time. Every
 * command an SshExecutor runs is a new SSH session, which costs the remote side a fork, the login
 * shell's start-up (a user's ~/.bashrc included: about 100 ms on a machine whose root runs `pyenv init`)
 * and a round trip. A shell opened before time-critical work (a migration's downtime) pays that once.
 *
 * The wire format is pure (framing below) and unit-tested; commands run one after another, each with
 * stdin from /dev/null and its stdout and stderr captured into files that are sent back after a header
 * line `MARK CODE OUTBYTES ERRBYTES`, so any bytes (binary, no final newline) come back intact.
 */
import { randomBytes } from 'node:crypto';
import type { ClientChannel } from 'ssh2';
import { errorMessage } from '../errors.js';
import { HostUnreachableError } from './errors.js';
import { shellJoin } from './quote.js';
import type { SshPool, SshTarget } from './ssh.js';
import { SESSION_START_LIMIT_MS, wrapArgv } from './ssh.js';
import type { Executor, RunOptions, RunResult } from './types.js';

/** The shell's own set-up: a private scratch directory, removed when the shell ends. */
export function shellPrelude(): string {
  return ['D=$(mktemp -d /tmp/edgectl-shell.XXXXXX) || exit 1', 'trap \'rm -rf "$D"\' EXIT', 'cd /', ''].join(
    '\n',
  );
}

/**
 * One command's line: run it (stdin from /dev/null, or from the given bytes, which travel base64-encoded
 * in the line itself), then print the header and its captured stdout and stderr.
 */
export function shellCommandLine(command: string, mark: string, stdin?: Buffer): string {
  const input = stdin === undefined ? '/dev/null' : '"$D/i"';
  const prepare =
    stdin === undefined ? '' : `printf '%s' '${stdin.toString('base64')}' | base64 -d >"$D/i"; `;
  return (
    `${prepare}{ ${command}\n} <${input} >"$D/o" 2>"$D/e"; c=$?; rm -f "$D/i"; ` +
    `printf '%s %d %d %d\\n' ${mark} "$c" "$(wc -c <"$D/o")" "$(wc -c <"$D/e")"; ` +
    `cat "$D/o" "$D/e"\n`
  );
}

/** Stdin larger than this goes through a fresh session instead of the shell's command line. */
const MAX_INLINE_STDIN = 256 * 1024;

export interface Frame {
  code: number;
  stdout: Buffer;
  stderr: Buffer;
}

/**
 * Takes one complete frame off the front of `buf`, or returns undefined when more bytes are needed.
 * Bytes before the header (none are expected: every command's output is redirected) are dropped.
 */
export function takeFrame(buf: Buffer, mark: string): { frame: Frame; rest: Buffer } | undefined {
  const at = buf.indexOf(`${mark} `);
  if (at < 0) return undefined;
  const eol = buf.indexOf(10, at);
  if (eol < 0) return undefined;
  const fields = buf
    .subarray(at + mark.length + 1, eol)
    .toString('latin1')
    .trim()
    .split(/\s+/)
    .map(Number);
  const [code, outBytes, errBytes] = fields;
  if (fields.length !== 3 || fields.some((n) => !Number.isInteger(n) || n < 0))
    throw new Error(`bad frame header from the remote shell: ${buf.subarray(at, eol).toString('latin1')}`);
  const start = eol + 1;
  const end = start + outBytes! + errBytes!;
  if (buf.length < end) return undefined;
  return {
    frame: {
      code: code!,
      stdout: buf.subarray(start, start + outBytes!),
      stderr: buf.subarray(start + outBytes!, end),
    },
    rest: buf.subarray(end),
  };
}

interface Pending {
  mark: string;
  resolve: (f: Frame) => void;
  reject: (e: Error) => void;
}

/**
 * An Executor over one persistent remote shell. Commands queue and run one at a time. Runs that stream
 * their stdout, or need more than MAX_INLINE_STDIN of stdin, go through a fresh session of the pool
 * instead. Close it when done.
 */
export class ShellExecutor implements Executor {
  readonly host: string;
  private channel: Promise<ClientChannel> | undefined;
  private buf: Buffer = Buffer.alloc(0);
  private pending: Pending | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private shellStderr = '';
  private seq = 0;
  private readonly tag = randomBytes(8).toString('hex');

  constructor(
    readonly pool: SshPool,
    private readonly target: SshTarget,
  ) {
    this.host = target.name;
  }

  /** Whether the shell is open or opening (a command would not start a new one). What a process of the
   * shell holds (a host lock) lives as long as it does. */
  get isOpen(): boolean {
    return this.channel !== undefined;
  }

  /** Opens the shell now and waits until it answers (before the work whose time matters). */
  async open(): Promise<void> {
    const r = await this.run(['true']);
    if (r.code !== 0) throw new Error(`the remote shell on ${this.host} does not work: ${r.stderr.trim()}`);
  }

  private ensureOpen(): Promise<ClientChannel> {
    if (!this.channel) {
      const opening = this.start();
      this.channel = opening;
      opening.catch(() => {
        if (this.channel === opening) this.channel = undefined;
      });
    }
    return this.channel;
  }

  private async start(): Promise<ClientChannel> {
    const { client } = await this.pool.connect(this.target);
    const command = shellJoin(wrapArgv(this.target, ['sh', '-s'], {}));
    const channel = await new Promise<ClientChannel>((resolve, reject) => {
      client.exec(command, (err, ch) => (err ? reject(err) : resolve(ch)));
    });
    this.buf = Buffer.alloc(0);
    this.shellStderr = '';
    channel.stderr.on('data', (d: Buffer) => {
      this.shellStderr = (this.shellStderr + d.toString('utf8')).slice(-2000);
    });
    // The session's login shell (a user's ~/.bashrc: 0.1-2 s on real machines) runs before `sh -s`
    // reads a line: the shell counts as open, and the commands' time limits start, once it answered.
    const ready = `@edgectl-ready-${this.tag}`;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        channel.destroy();
        reject(
          new HostUnreachableError(
            this.host,
            'timeout',
            `the remote shell on ${this.host} did not start within ${SESSION_START_LIMIT_MS / 1000} s (its login shell, ~/.bashrc included, runs first)`,
            `check what ~${this.target.ssh.user}/.bashrc runs on ${this.host}`,
          ),
        );
      }, SESSION_START_LIMIT_MS);
      const onData = (d: Buffer) => {
        this.buf = Buffer.concat([this.buf, d]);
        const at = this.buf.indexOf(`${ready}\n`);
        if (at < 0) return;
        this.buf = Buffer.from(this.buf.subarray(at + ready.length + 1));
        channel.off('data', onData);
        channel.off('close', onEarlyClose);
        clearTimeout(timer);
        channel.on('data', (more: Buffer) => this.onData(more));
        channel.on('close', () => this.onClose(channel));
        resolve();
      };
      const onEarlyClose = () => {
        clearTimeout(timer);
        reject(
          new HostUnreachableError(
            this.host,
            'error',
            `the remote shell on ${this.host} ended before it started${this.shellStderr ? `: ${this.shellStderr.trim()}` : ''}`,
            'is the host still reachable?',
          ),
        );
      };
      channel.on('data', onData);
      channel.once('close', onEarlyClose);
      channel.write(`${shellPrelude()}printf '%s\\n' ${ready}\n`);
    });
    return channel;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    const p = this.pending;
    if (!p) return;
    let taken: ReturnType<typeof takeFrame>;
    try {
      taken = takeFrame(this.buf, p.mark);
    } catch (err) {
      this.pending = undefined;
      p.reject(err as Error);
      return;
    }
    if (!taken) return;
    this.buf = Buffer.from(taken.rest);
    this.pending = undefined;
    p.resolve(taken.frame);
  }

  private onClose(channel: ClientChannel): void {
    // (A shell being reopened may be failing meanwhile: its own callers hear of that, not this.)
    void this.channel?.then(
      (c) => {
        if (c === channel) this.channel = undefined;
      },
      () => {},
    );
    const p = this.pending;
    this.pending = undefined;
    p?.reject(
      new HostUnreachableError(
        this.host,
        'error',
        `the remote shell on ${this.host} ended${this.shellStderr ? `: ${this.shellStderr.trim()}` : ''}`,
        'is the host still reachable?',
      ),
    );
  }

  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const stdin = options.stdin === undefined ? undefined : Buffer.from(options.stdin);
    if ((stdin && stdin.length > MAX_INLINE_STDIN) || options.onStdout)
      return this.pool.executor(this.target).run(argv, options);
    const next = this.queue.then(() => this.runNow(argv, options, stdin));
    this.queue = next.catch(() => {});
    return next;
  }

  private async runNow(argv: readonly string[], options: RunOptions, stdin?: Buffer): Promise<RunResult> {
    const channel = await this.ensureOpen();
    // The shell itself runs under sudo when needed: only env and the time limit wrap each command.
    const command = shellJoin(wrapArgv(this.target, argv, { ...options, sudo: false }));
    const mark = `@edgectl-${this.tag}-${++this.seq}`;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    try {
      const frame = await new Promise<Frame>((resolve, reject) => {
        this.pending = { mark, resolve, reject };
        if (options.timeoutMs !== undefined) {
          // The remote `timeout` should end it first; should the shell hang, drop it a little later.
          timer = setTimeout(() => {
            timedOut = true;
            channel.destroy();
          }, options.timeoutMs + 5_000);
        }
        channel.write(shellCommandLine(command, mark, stdin));
      });
      if (options.timeoutMs !== undefined && (frame.code === 124 || frame.code === 137)) timedOut = true;
      const result: RunResult = {
        argv,
        code: timedOut ? 124 : frame.code,
        stdout: frame.stdout.toString('utf8'),
        stderr: frame.stderr.toString('utf8'),
        ms: performance.now() - started,
        timedOut,
      };
      this.pool.options.onRun?.(this.host, result);
      return result;
    } catch (err) {
      if (!timedOut) throw err;
      return {
        argv,
        code: 124,
        stdout: '',
        stderr: `timed out; the remote shell was dropped (${errorMessage(err)})`,
        ms: performance.now() - started,
        timedOut: true,
      };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Ends the shell (its scratch directory goes with it). */
  async close(): Promise<void> {
    const pending = this.channel;
    this.channel = undefined;
    if (!pending) return;
    try {
      const channel = await pending;
      await new Promise<void>((resolve) => {
        channel.once('close', () => resolve());
        channel.end('exit\n');
        setTimeout(resolve, 2_000).unref();
      });
    } catch {
      // never opened
    }
  }
}
