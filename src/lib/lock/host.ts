/**
 * A server's half of a user's lock: flock(1) on a file under /run, held by a small process that the
 * controller's persistent shell there (remote/shell.ts) starts and that lives exactly as long as that
 * shell does. The shell ends with the controller's SSH session (its stdin closes when the controller
 * exits or dies, or the connection drops), and the holder with it (within a second), so no lock outlives
 * its controller. Taken through a shell that the work opens anyway, the lock costs one command on it, not
 * a new SSH session (2 s each in the lab, 0.1-2 s on real machines: see shell.ts).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgectlError, ExitCode, throwIfInterrupted } from '../errors.js';
import { NAME_RE } from '../inventory/schema.js';
import type { RunResult } from '../remote/index.js';
import type { ShellExecutor } from '../remote/shell.js';
import { LockBusyError } from './errors.js';

/**
 * Where the servers keep the locks: under /run (a tmpfs: gone at reboot, like the locks), in a directory
 * of root's own, not /run/lock, which any user can write and plant a symlink in. The lab's hosts share
 * one filesystem, hence the host's name in the path: each server has a lock of its own, as real ones do.
 */
export const HOST_LOCK_ROOT = '/run/edgectl-locks';

/** The lock file of a user on a server. */
export function hostLockFile(testbed: string, host: string, user: string): string {
  for (const name of [testbed, host, user])
    if (!NAME_RE.test(name)) throw new Error(`not a name for a lock path: ${JSON.stringify(name)}`);
  return `${HOST_LOCK_ROOT}/${testbed}/${host}/${user}.lock`;
}

/** Exit code of hostLockArgv when another holds the lock (EX_TEMPFAIL). */
export const LOCK_BUSY_CODE = 75;

/**
 * Takes the lock of `file` without waiting, from a persistent shell: prints `locked PID` (the holder's
 * pid), or exits LOCK_BUSY_CODE printing what the holder wrote into the file. The holder is a child
 * `sh` named by `token` in its argv (so that the release can tell it from a process that reused its pid),
 * holding the lock's file descriptor and watching the shell that ran this ($PPID: the shell runs each
 * command as its direct child) once a second; it leaves when that shell is gone. Its `sleep`s do not
 * inherit the descriptor, so that killing it releases the lock at once.
 */
export function hostLockArgv(file: string, token: string, holder: string): string[] {
  const script = [
    'set -eu',
    'f=$1; token=$2; holder=$3; shell=$PPID',
    'd=$(dirname -- "$f")',
    'mkdir -p -- "$d"',
    'chmod 0700 -- "$d"',
    'exec 9>>"$f"',
    `flock -n 9 || { cat "$f"; exit ${LOCK_BUSY_CODE}; }`,
    // The lock is on the file, not on this descriptor's view of it: rewriting the file keeps it.
    'printf \'%s\\n\' "$holder" >"$f"',
    // Alive: its /proc entry is there and not a zombie (an orphaned shell's parent may never reap it:
    // the lab machine's pid 1 does not). Its comm is the shell's name, without spaces.
    'sh -c \'while read -r _ _ st _ <"/proc/$1/stat" && [ "$st" != Z ]; do sleep 1 9>&-; done\' "$token" "$shell" </dev/null >/dev/null 2>&1 &',
    'echo "locked $!"',
  ].join('\n');
  return ['sh', '-c', script, 'edgectl-lock', file, token, holder];
}

/** Ends the holder `pid` (the lock goes with it) if it is still the one named by `token`. */
export function hostUnlockArgv(pid: number, token: string): string[] {
  const script = [
    'pid=$1; token=$2',
    '[ -r "/proc/$pid/cmdline" ] || exit 0',
    'tr \'\\000\' \'\\n\' <"/proc/$pid/cmdline" | grep -qxF -- "$token" || exit 0',
    'kill "$pid" 2>/dev/null || :',
  ].join('\n');
  return ['sh', '-c', script, 'edgectl-unlock', String(pid), token];
}

export type HostLockAnswer =
  | { kind: 'locked'; pid: number }
  | { kind: 'busy'; holder: string | undefined }
  | { kind: 'failed'; why: string };

/** What hostLockArgv's run says (pure). The holder's words come from the server: printable, short. */
export function parseHostLock(r: Pick<RunResult, 'code' | 'stdout' | 'stderr'>): HostLockAnswer {
  if (r.code === 0) {
    const m = /^locked (\d+)\s*$/.exec(r.stdout.trim());
    if (m) return { kind: 'locked', pid: Number(m[1]) };
    return { kind: 'failed', why: `unexpected answer: ${JSON.stringify(r.stdout.slice(0, 100))}` };
  }
  if (r.code === LOCK_BUSY_CODE) {
    const said = r.stdout
      .replace(/[^\x20-\x7e]+/g, ' ')
      .trim()
      .slice(0, 300);
    return { kind: 'busy', holder: said || undefined };
  }
  if (r.code === 127) return { kind: 'failed', why: 'flock (util-linux) is not installed there' };
  return { kind: 'failed', why: `exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' ')}` };
}

export interface HostLock {
  readonly host: string;
  release(): Promise<void>;
}

/**
 * Takes the lock of `file` on the shell's server, retrying every 200 ms until `waitMs` has passed;
 * LockBusyError past that.
 */
export async function lockHost(
  shell: ShellExecutor,
  lock: { testbed: string; user: string; file: string },
  options: { waitMs?: number; signal?: AbortSignal; holder?: string } = {},
): Promise<HostLock> {
  const token = `edgectl-lock-${randomBytes(8).toString('hex')}`;
  const holder =
    options.holder ??
    `pid ${process.pid} on ${hostname()}, since ${new Date().toISOString()}: ${['edgectl', ...process.argv.slice(2)].join(' ').slice(0, 200)}`;
  const deadline = Date.now() + (options.waitMs ?? 0);
  for (;;) {
    // No time limit on the command: `timeout` would stand between the shell and the script ($PPID).
    const answer = parseHostLock(await shell.run(hostLockArgv(lock.file, token, holder)));
    if (answer.kind === 'locked') {
      let released = false;
      return {
        host: shell.host,
        async release() {
          if (released) return;
          released = true;
          // A shell that has ended took the holder with it; running a command would open a new one.
          if (!shell.isOpen) return;
          await shell.run(hostUnlockArgv(answer.pid, token), { timeoutMs: 10_000 }).catch(() => {});
        },
      };
    }
    if (answer.kind === 'failed')
      throw new EdgectlError(
        'LOCK_FAILED',
        ExitCode.remote,
        `taking ${lock.user}'s lock on ${shell.host} (${lock.file}): ${answer.why}`,
        { hint: `edgectl hosts check --host ${shell.host}` },
      );
    if (Date.now() >= deadline) throw new LockBusyError(lock.testbed, lock.user, shell.host, answer.holder);
    await sleep(Math.min(200, Math.max(1, deadline - Date.now())));
    throwIfInterrupted(options.signal);
  }
}
