/**
 * The controller's half of a user's lock: a file under the state database's directory, locked by the
 * operating system for as long as this process keeps it, so that a process that dies (SIGKILL, a crash)
 * cannot keep it: there is no stale lock to detect or take over.
 *
 * Node has no flock(2) of its own and no lock library is among the dependencies; better-sqlite3 is, and
 * SQLite locks its files with the OS's advisory locks (fcntl on Linux and macOS), dropped by the kernel
 * when the process ends. The lock file is an empty SQLite database held in an EXCLUSIVE transaction: a
 * second holder, in another process or in this one, gets SQLITE_BUSY at once. Who holds it is written
 * beside it (`USER.holder`, JSON), for the error the next one sees; that file is only informative.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { throwIfInterrupted } from '../errors.js';

/** Who holds a lock, as it describes itself. */
export interface Holder {
  pid: number;
  host: string;
  command: string;
  sinceMs: number;
}

/** This process, as a holder. */
export function thisHolder(): Holder {
  return {
    pid: process.pid,
    host: hostname(),
    command: ['edgectl', ...process.argv.slice(2)].join(' ').slice(0, 200),
    sinceMs: Date.now(),
  };
}

/** A holder in words: `pid 4242 on ctl since 12:00:01: edgectl migrate --user mu1 --to edge2`. */
export function describeHolder(h: Holder): string {
  const self = h.pid === process.pid && h.host === hostname() ? ', this very process' : '';
  return `pid ${h.pid} on ${h.host}${self}, since ${new Date(h.sinceMs).toISOString()}: ${h.command}`;
}

/** The directory of a state database's locks: `locks/` beside it (a private one for an in-memory database,
 * which no other process can open). */
export function lockDirOf(state: { file: string; instanceId: string }): string {
  if (state.file === '' || state.file === ':memory:')
    return join(tmpdir(), `edgectl-locks-${state.instanceId}`);
  return join(dirname(resolve(state.file)), 'locks');
}

export interface FileLock {
  readonly file: string;
  /** Releases the lock (idempotent). */
  release(): void;
}

export class FileLockBusy extends Error {
  constructor(
    readonly file: string,
    readonly holder: Holder | undefined,
  ) {
    super(`${file} is locked${holder ? ` by ${describeHolder(holder)}` : ''}`);
  }
}

function holderFile(file: string): string {
  return file.replace(/\.lock$/, '') + '.holder';
}

/** The holder a lock file's neighbour names, if it can be read. */
export function readHolder(file: string): Holder | undefined {
  try {
    const h = JSON.parse(readFileSync(holderFile(file), 'utf8')) as Partial<Holder>;
    if (typeof h.pid !== 'number' || typeof h.host !== 'string' || typeof h.command !== 'string')
      return undefined;
    return { pid: h.pid, host: h.host, command: h.command, sinceMs: Number(h.sinceMs) || 0 };
  } catch {
    return undefined;
  }
}

function tryLock(file: string): Database.Database | undefined {
  // timeout 0: SQLite's own busy wait would block the event loop (and Ctrl+C) for its whole length.
  const db = new Database(file, { timeout: 0 });
  try {
    // No journal file beside the lock: nothing is ever written to it.
    db.pragma('journal_mode = MEMORY');
    db.exec('BEGIN EXCLUSIVE');
    return db;
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return undefined;
    throw err;
  }
}

/**
 * Takes the lock of `file` (created, with its directory, 0700); throws FileLockBusy when another holds it
 * past `waitMs` (0: at once). Polled every 100 ms while waiting, so that the signal is heard.
 */
export async function lockFile(
  file: string,
  options: { waitMs?: number; signal?: AbortSignal; holder?: Holder } = {},
): Promise<FileLock> {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + (options.waitMs ?? 0);
  let db = tryLock(file);
  while (!db) {
    if (Date.now() >= deadline) throw new FileLockBusy(file, readHolder(file));
    await sleep(Math.min(100, Math.max(1, deadline - Date.now())));
    throwIfInterrupted(options.signal);
    db = tryLock(file);
  }
  const held = db;
  const holder = options.holder ?? thisHolder();
  const hf = holderFile(file);
  try {
    writeFileSync(`${hf}.${process.pid}`, `${JSON.stringify(holder)}\n`, { mode: 0o600 });
    renameSync(`${hf}.${process.pid}`, hf);
  } catch {
    // Only informative: the lock itself is held.
  }
  let released = false;
  return {
    file,
    release() {
      if (released) return;
      released = true;
      // The holder file goes first, while the lock still keeps others from writing theirs.
      rmSync(hf, { force: true });
      try {
        held.exec('ROLLBACK');
      } finally {
        held.close();
      }
    },
  };
}
