/**
 * A lock per (testbed, user), held for the whole of a deploy, undeploy or migrate: on the controller (a
 * file beside the state database: two commands of this machine, same database directory) and on the
 * server that holds the user's service (any two controllers: another checkout, another state database).
 * A busy lock fails at once by default (LockBusyError, exit 2, naming the holder), or after `waitMs`.
 * Neither half can outlive its holder: see controller.ts and host.ts.
 */
import { join } from 'node:path';
import { NAME_RE } from '../inventory/schema.js';
import type { ShellExecutor } from '../remote/shell.js';
import { describeHolder, type FileLock, FileLockBusy, lockFile } from './controller.js';
import { LockBusyError } from './errors.js';
import { type HostLock, hostLockFile, lockHost } from './host.js';

export { describeHolder, type Holder, lockDirOf, readHolder, thisHolder } from './controller.js';
export { LockBusyError } from './errors.js';
export {
  HOST_LOCK_ROOT,
  hostLockArgv,
  hostLockFile,
  hostUnlockArgv,
  LOCK_BUSY_CODE,
  parseHostLock,
} from './host.js';

export interface UserLockOptions {
  /** The directory of the state database's locks (lockDirOf(state)). */
  lockDir: string;
  testbed: string;
  user: string;
  /** How long to wait for a busy lock (default 0: fail at once). */
  waitMs?: number;
  signal?: AbortSignal;
  /** Take the lock on this shell's server too (see UserLock.onHost). */
  shell?: ShellExecutor;
}

export interface UserLock {
  readonly testbed: string;
  readonly user: string;
  /**
   * Takes the user's lock on a server as well, through a persistent shell there: one command on it (no
   * SSH session of its own when the shell is one the work uses anyway). Held until release, or until
   * that shell ends.
   */
  onHost(shell: ShellExecutor): Promise<void>;
  /** Releases the servers' locks, then the controller's (idempotent; never throws). */
  release(): Promise<void>;
}

/** The controller's lock file of a user. */
export function controllerLockFile(lockDir: string, testbed: string, user: string): string {
  for (const name of [testbed, user])
    if (!NAME_RE.test(name)) throw new Error(`not a name for a lock path: ${JSON.stringify(name)}`);
  return join(lockDir, testbed, `${user}.lock`);
}

export async function acquireUserLock(o: UserLockOptions): Promise<UserLock> {
  const file = controllerLockFile(o.lockDir, o.testbed, o.user);
  let local: FileLock;
  try {
    local = await lockFile(file, {
      ...(o.waitMs ? { waitMs: o.waitMs } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (err) {
    if (err instanceof FileLockBusy)
      throw new LockBusyError(o.testbed, o.user, 'controller', err.holder && describeHolder(err.holder));
    throw err;
  }
  const hosts: HostLock[] = [];
  const lock: UserLock = {
    testbed: o.testbed,
    user: o.user,
    async onHost(shell) {
      if (hosts.some((h) => h.host === shell.host)) return;
      hosts.push(
        await lockHost(
          shell,
          { testbed: o.testbed, user: o.user, file: hostLockFile(o.testbed, shell.host, o.user) },
          { ...(o.waitMs ? { waitMs: o.waitMs } : {}), ...(o.signal ? { signal: o.signal } : {}) },
        ),
      );
    },
    async release() {
      for (const h of hosts.splice(0).reverse()) await h.release().catch(() => {});
      try {
        local.release();
      } catch {
        // Closing the lock's database failed: the lock goes with this process in any case.
      }
    },
  };
  if (o.shell) {
    try {
      await lock.onHost(o.shell);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }
  return lock;
}

/** Runs `work` holding the user's lock (released however it ends). */
export async function withUserLock<T>(o: UserLockOptions, work: (lock: UserLock) => Promise<T>): Promise<T> {
  const lock = await acquireUserLock(o);
  try {
    return await work(lock);
  } finally {
    await lock.release();
  }
}
