/**
 * The paper's estimate of a container's migration sizes (section IV-B): two checkpoints of the running
 * container, a little apart, both leaving it running; the first one's size is S_pre (what pre-migration
 * sends), the difference between them S_delta (what the migration proper sends while the service is down).
 * Measured the way a delta migration takes them: each snapshot is the checkpoint's images with the
 * container's writable layer (by runc where the container's runtime is runc, else through Docker), and
 * the difference is the default (pages) codec's delta between the two.
 *
 * A checkpoint freezes the service while CRIU dumps it (about 0.2-0.3 s for 64 MB here): the probe costs the
 * user two short stalls, which is why it runs only when asked.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { deleteCheckpoint, upperDir } from '../docker/checkpoint.js';
import { reachDocker } from '../docker/deploy.js';
import { getHost, type Inventory } from '../inventory/index.js';
import { runChecked, ShellExecutor, type SshPool } from '../remote/index.js';
import type { Placement } from '../state/index.js';
import { findRunc, takeSnapshot } from './checkpointer.js';
import { pagesDiffArgv, removeDirArgv } from './commands.js';
import { PAGES_BIN } from './pages-source.js';

/** How long the container runs between the two checkpoints by default. */
export const PROBE_GAP_MS = 2000;

export interface CheckpointProbe {
  user: string;
  host: string;
  atMs: number;
  /** S_pre: the first snapshot (checkpoint images and writable layer), bytes. */
  preBytes: number;
  /** The second snapshot, bytes (S_D: what a final checkpoint holds). */
  finalBytes: number;
  /** S_delta: the pages codec's delta between the two, bytes. */
  deltaBytes: number;
  /** Each checkpoint's time (ms; runc's or Docker's, as a migration takes it): samples of psi for the server. */
  checkpointMs: [number, number];
}

/** Where a probe keeps its snapshots on the server (removed afterwards). */
export function probeDir(testbed: string, user: string): string {
  return `/var/lib/edgectl/probes/${testbed}/${user}`;
}

function bytesOf(stdout: string, what: string): number {
  const n = Number(stdout.trim().split('\n').at(-1));
  if (!Number.isFinite(n) || n < 0) throw new Error(`${what} printed no size: ${stdout.slice(0, 200)}`);
  return n;
}

/** Takes the two probe checkpoints of a user's running container and measures them; always cleans up. */
export async function probeCheckpoints(
  inv: Inventory,
  pool: SshPool,
  placement: Placement,
  options: { gapMs?: number; signal?: AbortSignal } = {},
): Promise<CheckpointProbe> {
  const host = getHost(inv, placement.host);
  const shell = new ShellExecutor(pool, host);
  const docker = await reachDocker(pool, host);
  const container = docker.getContainer(placement.containerId);
  const stamp = Date.now().toString(36);
  const names = [`edgectl-probe-a-${stamp}`, `edgectl-probe-b-${stamp}`] as const;
  const dir = probeDir(inv.testbed, placement.user);
  const made: string[] = [];
  try {
    const [info, dockerInfo] = await Promise.all([container.inspect(), docker.info(), shell.open()]);
    const root = String(dockerInfo.DockerRootDir);
    const upper = upperDir(info);
    if (!upper) throw new Error(`${placement.container} on ${host.name} has no overlay upper directory`);
    const runc = await findRunc(shell, info.State.Pid);
    const atMs = Date.now();
    const take = async (name: string, out: string): Promise<{ ms: number; bytes: number }> => {
      if (!runc) made.push(name);
      const snap = await takeSnapshot({
        shell,
        container,
        info,
        runc,
        dockerRoot: root,
        upperDir: upper,
        out,
        work: `${out}-work`,
        name,
        kind: 'run',
        what: `checkpointing ${placement.container} on ${host.name}`,
      });
      return { ms: snap.ms, bytes: snap.bytes };
    };
    const a = await take(names[0], `${dir}/a`);
    await sleep(options.gapMs ?? PROBE_GAP_MS, undefined, options.signal ? { signal: options.signal } : {});
    const b = await take(names[1], `${dir}/b`);
    const d = await runChecked(shell, pagesDiffArgv(PAGES_BIN, `${dir}/a`, `${dir}/b`, `${dir}/delta`), {
      what: 'computing the delta between the probe checkpoints',
    });
    return {
      user: placement.user,
      host: host.name,
      atMs,
      preBytes: a.bytes,
      finalBytes: b.bytes,
      deltaBytes: bytesOf(d.stdout, 'the delta'),
      checkpointMs: [a.ms, b.ms],
    };
  } finally {
    await Promise.all(made.map((n) => deleteCheckpoint(container, n).catch(() => {})));
    await shell.run(removeDirArgv(dir)).catch(() => {});
    await shell.close().catch(() => {});
  }
}
