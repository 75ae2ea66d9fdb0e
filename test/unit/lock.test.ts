/**
 * The user's lock. The controller's half with real files and real processes (a second process holding
 * it, one killed while holding it, one that exits without releasing it); the server's half with its real
 * script run by a real `sh -s` fed through the persistent shell's own framing (remote/shell.ts), on this
 * machine: the same commands an SSH channel would carry.
 */
import { type ChildProcessWithoutNullStreams, execFileSync, fork, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { lockFile } from '../../src/lib/lock/controller.js';
import { lockHost } from '../../src/lib/lock/host.js';
import {
  acquireUserLock,
  controllerLockFile,
  hostLockArgv,
  hostLockFile,
  hostUnlockArgv,
  LOCK_BUSY_CODE,
  LockBusyError,
  lockDirOf,
  parseHostLock,
} from '../../src/lib/lock/index.js';
import { shellJoin } from '../../src/lib/remote/quote.js';
import { type ShellExecutor, shellCommandLine, shellPrelude, takeFrame } from '../../src/lib/remote/shell.js';
import type { RunResult } from '../../src/lib/remote/types.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
const fresh = () => join(dir, `case-${++n}`);

/**
 * Another process holding a controller lock the way controller.ts takes it (an EXCLUSIVE transaction on
 * the lock file, its holder written beside it), until it is told to go or killed.
 */
const holderScript = join(dir, 'holder.mjs');
writeFileSync(
  holderScript,
  `import Database from ${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))};
import { writeFileSync } from 'node:fs';
const [file, how] = process.argv.slice(2);
const db = new Database(file, { timeout: 0 });
db.pragma('journal_mode = MEMORY');
db.exec('BEGIN EXCLUSIVE');
writeFileSync(file.replace(/\\.lock$/, '.holder'), JSON.stringify({ pid: process.pid, host: 'elsewhere', command: 'edgectl migrate --user mu1 --to edge2', sinceMs: 1 }));
process.send('locked', () => {
  if (how === 'exit') process.exit(0);
});
process.on('message', () => process.exit(0));
`,
);

function holdInChild(file: string, how: 'wait' | 'exit'): Promise<ReturnType<typeof fork>> {
  mkdirSync(dirname(file), { recursive: true });
  const child = fork(holderScript, [file, how], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => (how === 'exit' ? undefined : reject(new Error(`holder exited ${code}`))));
  });
}

const exited = (child: ReturnType<typeof fork>) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((resolve) => child.once('exit', () => resolve()));

describe('the controller’s lock', () => {
  it('a second acquirer fails at once, naming the holder; after the release it gets the lock', async () => {
    const file = join(fresh(), 'paper', 'mu1.lock');
    const a = await lockFile(file);
    // At once: refused while the holder still holds it (it releases only below).
    const err = await lockFile(file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(/is locked by pid \d+ on .*this very process/);
    a.release();
    a.release(); // idempotent
    const b = await lockFile(file);
    b.release();
  });

  it('waits up to waitMs: gets a lock released meanwhile, and gives up on one that is not', async () => {
    const file = join(fresh(), 'mu1.lock');
    const a = await lockFile(file);
    let released = false;
    setTimeout(() => {
      released = true;
      a.release();
    }, 300);
    const b = await lockFile(file, { waitMs: 5_000 });
    // It waited for the release, not past it or around it.
    expect(released).toBe(true);
    await expect(lockFile(file, { waitMs: 400 })).rejects.toThrow(/is locked/);
    b.release();
  });

  it('another process holds it: busy, with what that process wrote of itself', async () => {
    const file = join(fresh(), 'mu1.lock');
    const child = await holdInChild(file, 'wait');
    try {
      await expect(lockFile(file)).rejects.toThrow(
        /locked by pid \d+ on elsewhere.*edgectl migrate --user mu1/,
      );
    } finally {
      child.send('go');
      await exited(child);
    }
    (await lockFile(file)).release();
  });

  it('a holder killed with SIGKILL keeps nothing: the next one takes the lock, and its holder file over', async () => {
    const file = join(fresh(), 'mu1.lock');
    const child = await holdInChild(file, 'wait');
    await expect(lockFile(file)).rejects.toThrow(/is locked/);
    child.kill('SIGKILL');
    await exited(child);
    // The dead holder's description is still there; the lock is not.
    expect(readFileSync(file.replace(/\.lock$/, '.holder'), 'utf8')).toContain(String(child.pid));
    const mine = await lockFile(file);
    expect(JSON.parse(readFileSync(file.replace(/\.lock$/, '.holder'), 'utf8')).pid).toBe(process.pid);
    mine.release();
    expect(existsSync(file.replace(/\.lock$/, '.holder'))).toBe(false);
  });

  it('a holder that exits without releasing releases it', async () => {
    const file = join(fresh(), 'mu1.lock');
    const child = await holdInChild(file, 'exit');
    await exited(child);
    (await lockFile(file)).release();
  });

  it('lives beside the state database, one file per testbed and user', () => {
    expect(lockDirOf({ file: '/x/.edgectl/state.db', instanceId: '0123456789abcdef' })).toBe(
      '/x/.edgectl/locks',
    );
    expect(lockDirOf({ file: ':memory:', instanceId: '0123456789abcdef' })).toBe(
      join(tmpdir(), 'edgectl-locks-0123456789abcdef'),
    );
    expect(controllerLockFile('/x/locks', 'paper', 'mu1')).toBe('/x/locks/paper/mu1.lock');
    expect(() => controllerLockFile('/x/locks', '..', 'mu1')).toThrow(/not a name/);
  });
});

const hasFlock = (() => {
  try {
    execFileSync('flock', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/**
 * A persistent `sh -s` on this machine, fed like the controller feeds its shells over SSH (the prelude,
 * then one framed command line at a time): the part of ShellExecutor the host lock uses.
 */
class LocalShell {
  readonly proc: ChildProcessWithoutNullStreams;
  private buf = Buffer.alloc(0);
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private wake: (() => void) | undefined;

  constructor(readonly host: string) {
    this.proc = spawn('sh', ['-s']);
    this.proc.stdout.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake?.();
    });
    this.proc.stdin.write(shellPrelude());
  }

  get isOpen(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  run(argv: readonly string[]): Promise<RunResult> {
    const next = this.queue.then(async () => {
      const mark = `@edgectl-test-${++this.seq}`;
      this.proc.stdin.write(shellCommandLine(shellJoin(argv), mark));
      for (;;) {
        const taken = takeFrame(this.buf, mark);
        if (taken) {
          this.buf = Buffer.from(taken.rest);
          const f = taken.frame;
          return {
            argv,
            code: f.code,
            stdout: f.stdout.toString(),
            stderr: f.stderr.toString(),
            ms: 0,
            timedOut: false,
          };
        }
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
      }
    });
    this.queue = next.catch(() => {});
    return next;
  }

  kill(): Promise<void> {
    this.proc.kill('SIGKILL');
    return new Promise((resolve) => (this.isOpen ? this.proc.once('exit', () => resolve()) : resolve()));
  }

  close(): Promise<void> {
    this.proc.stdin.end('exit\n');
    return new Promise((resolve) => (this.isOpen ? this.proc.once('exit', () => resolve()) : resolve()));
  }
}

const shells: LocalShell[] = [];
function shell(host = 'edge1'): ShellExecutor {
  const s = new LocalShell(host);
  shells.push(s);
  return s as unknown as ShellExecutor;
}
const local = (s: ShellExecutor) => s as unknown as LocalShell;
afterEach(async () => {
  for (const s of shells.splice(0)) await s.kill();
});

describe('the server’s lock: pure parts', () => {
  it('one file per testbed, server and user, under a directory of root’s own', () => {
    expect(hostLockFile('paper', 'edge1', 'mu1')).toBe('/run/edgectl-locks/paper/edge1/mu1.lock');
    for (const bad of ['..', 'a/b', 'A', ''])
      expect(() => hostLockFile('paper', 'edge1', bad), bad).toThrow(/not a name/);
  });

  it('takes its paths and words as arguments, never in the script', () => {
    const argv = hostLockArgv('/run/x; rm -rf /', 'tok', "it's me");
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual(['edgectl-lock', '/run/x; rm -rf /', 'tok', "it's me"]);
    expect(argv[2]).not.toContain('rm -rf /');
    expect(hostUnlockArgv(42, 'tok').slice(3)).toEqual(['edgectl-unlock', '42', 'tok']);
  });

  it('reads the answer: locked with a pid, busy with the holder’s printable words, or why it failed', () => {
    expect(parseHostLock({ code: 0, stdout: 'locked 4242\n', stderr: '' })).toEqual({
      kind: 'locked',
      pid: 4242,
    });
    expect(parseHostLock({ code: LOCK_BUSY_CODE, stdout: 'pid 7 on ctl\u001b[31m\n', stderr: '' })).toEqual({
      kind: 'busy',
      holder: 'pid 7 on ctl [31m',
    });
    expect(parseHostLock({ code: LOCK_BUSY_CODE, stdout: '', stderr: '' })).toEqual({
      kind: 'busy',
      holder: undefined,
    });
    expect(parseHostLock({ code: 127, stdout: '', stderr: 'flock: not found' })).toMatchObject({
      kind: 'failed',
      why: expect.stringMatching(/util-linux/),
    });
    expect(parseHostLock({ code: 0, stdout: 'hello', stderr: '' }).kind).toBe('failed');
  });
});

describe.skipIf(!hasFlock)('the server’s lock, held by a process of the persistent shell', () => {
  const lockOf = (file: string) => ({ testbed: 'paper', user: 'mu1', file });

  it('a second shell is refused at once with the holder’s words; released, the lock is free at once', async () => {
    const file = join(fresh(), 'edge1', 'mu1.lock');
    const a = await lockHost(shell(), lockOf(file), { holder: 'pid 1 on ctl: edgectl migrate --user mu1' });
    const err = await lockHost(shell(), lockOf(file)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LockBusyError);
    expect((err as LockBusyError).where).toBe('edge1');
    expect((err as LockBusyError).holder).toBe('pid 1 on ctl: edgectl migrate --user mu1');
    expect((err as LockBusyError).exitCode).toBe(2);
    await a.release();
    // Taken without waiting (no waitMs): it is free as soon as the release returns.
    const b = await lockHost(shell(), lockOf(file));
    await b.release();
  });

  it('dies with its shell (the SSH session): a killed shell frees it', async () => {
    const file = join(fresh(), 'edge1', 'mu1.lock');
    const first = shell();
    await lockHost(first, lockOf(file));
    await expect(lockHost(shell(), lockOf(file))).rejects.toThrow(LockBusyError);
    await local(first).kill();
    // The holder dies with its shell a moment later; the wait only tolerates that moment on a busy machine.
    const b = await lockHost(shell(), lockOf(file), { waitMs: 30_000 });
    await b.release();
  });

  it('a shell that ended normally frees it too, and the release then runs nothing', async () => {
    const file = join(fresh(), 'edge1', 'mu1.lock');
    const first = shell();
    const a = await lockHost(first, lockOf(file));
    await local(first).close();
    await a.release(); // the shell is gone: nothing to run (and nothing reopened)
    await (await lockHost(shell(), lockOf(file), { waitMs: 5_000 })).release();
  });

  it('the release ends only its own holder: a process with another token is left alone', async () => {
    const file = join(fresh(), 'edge1', 'mu1.lock');
    const s = shell();
    const r = parseHostLock(await s.run(hostLockArgv(file, 'edgectl-lock-right', 'me')));
    expect(r.kind).toBe('locked');
    const pid = (r as { pid: number }).pid;
    await s.run(hostUnlockArgv(pid, 'edgectl-lock-wrong'));
    expect(() => process.kill(pid, 0)).not.toThrow();
    await expect(lockHost(shell(), lockOf(file))).rejects.toThrow(LockBusyError);
    await s.run(hostUnlockArgv(pid, 'edgectl-lock-right'));
    await (await lockHost(shell(), lockOf(file), { waitMs: 2_000 })).release();
  });

  it('waits up to waitMs for a busy one', async () => {
    const file = join(fresh(), 'edge1', 'mu1.lock');
    const a = await lockHost(shell(), lockOf(file));
    setTimeout(() => void a.release(), 300);
    await (await lockHost(shell(), lockOf(file), { waitMs: 5_000 })).release();
  });
});

describe.skipIf(!hasFlock)('a user’s lock: the controller’s, then the server’s', () => {
  // The server's lock path is fixed under /run; these cases take it through a shell on this machine
  // only where /run/edgectl-locks can be written (root), and give the server a name of their own.
  const root = (() => {
    try {
      execFileSync('sh', ['-c', 'mkdir -p /run/edgectl-locks && test -w /run/edgectl-locks'], {
        stdio: 'ignore',
      });
      return true;
    } catch {
      return false;
    }
  })();
  const host = `t${randomBytes(4).toString('hex')}`;
  afterAll(() => rmSync(`/run/edgectl-locks/lock-test-${host}`, { recursive: true, force: true }));

  it('the same state directory: refused on the controller, before any server is asked', async () => {
    const lockDir = fresh();
    const a = await acquireUserLock({ lockDir, testbed: 'paper', user: 'mu1' });
    const s = shell(host);
    const err = await acquireUserLock({ lockDir, testbed: 'paper', user: 'mu1', shell: s }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LockBusyError);
    expect((err as LockBusyError).where).toBe('controller');
    expect(local(s).isOpen && (await s.run(['true'])).code).toBe(0); // the shell ran nothing of the lock's
    await a.release();
    // Another user of the same testbed is not held up.
    await (await acquireUserLock({ lockDir, testbed: 'paper', user: 'mu2' })).release();
  });

  it.skipIf(!root)(
    'two state directories: refused on the server; the controller’s half is given back',
    async () => {
      const testbed = `lock-test-${host}`;
      const [dirA, dirB] = [fresh(), fresh()];
      const a = await acquireUserLock({ lockDir: dirA, testbed, user: 'mu1', shell: shell(host) });
      const err = await acquireUserLock({ lockDir: dirB, testbed, user: 'mu1', shell: shell(host) }).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LockBusyError);
      expect((err as LockBusyError).where).toBe(host);
      expect((err as LockBusyError).holder).toMatch(new RegExp(`pid ${process.pid} on `));
      // B's controller lock was released with its failure.
      await (await acquireUserLock({ lockDir: dirB, testbed, user: 'mu1' })).release();
      await a.release();
      await (await acquireUserLock({ lockDir: dirB, testbed, user: 'mu1', shell: shell(host) })).release();
    },
  );
});
