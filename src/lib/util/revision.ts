/**
 * Where a run's numbers came from: the source revision of this edgectl (git, when it runs from a
 * checkout) and the machine it ran on, for results files that a reader can reproduce.
 */
import { execFileSync } from 'node:child_process';
import { cpus, hostname, loadavg, totalmem } from 'node:os';

export interface SourceRevision {
  /** The commit (null when edgectl does not run from a git checkout). */
  commit: string | null;
  /** Files changed since that commit (tracked ones; null without git). */
  dirty: boolean | null;
}

/** The git commit of the checkout at `dir`, and whether its tracked files differ from it. */
export function sourceRevision(dir: string): SourceRevision {
  const git = (args: string[]) =>
    execFileSync('git', ['-C', dir, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
  try {
    const commit = git(['rev-parse', 'HEAD']);
    const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
    return { commit, dirty };
  } catch {
    return { commit: null, dirty: null };
  }
}

export interface MachineFacts {
  hostname: string;
  cpus: number;
  memGiB: number;
  /** The 1, 5 and 15 minute load averages when read: other work on the machine shows in every timing. */
  loadAvg: number[];
}

export function machineFacts(): MachineFacts {
  return {
    hostname: hostname(),
    cpus: cpus().length,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAvg: loadavg().map((v) => Math.round(v * 100) / 100),
  };
}
