/**
 * Checkpoints of a running container into a snapshot directory (`criu/`, the checkpoint's images, and
 * `rootfs.tar`, its writable layer), taken the way a migration takes them: by runc under the container
 * Docker created where its runtime is runc, else through Docker's checkpoint API.
 */
import type Docker from 'dockerode';
import { createCheckpoint } from '../docker/checkpoint.js';
import { type Executor, runChecked } from '../remote/index.js';
import {
  checkpointDir,
  parseRuntime,
  parseSeconds,
  type RuncRuntime,
  runcCheckpointArgv,
  runtimeOfArgv,
  snapshotArgv,
} from './commands.js';

/**
 * Who takes the checkpoints: runc, called under the container Docker created (CRIU's images written
 * straight into the snapshot), or Docker's checkpoint API (which passes every checkpoint through
 * containerd's content store as a tar: about a second more at 64 MB here), where the container's
 * runtime is not runc.
 */
export type Checkpointer = 'runc' | 'docker';

/** runc under a container (by its init's pid), or undefined where it is not found. */
export async function findRunc(shell: Executor, pid: number): Promise<RuncRuntime | undefined> {
  if (!pid) return undefined;
  const r = await shell.run(runtimeOfArgv(pid), { timeoutMs: 30_000 });
  return r.code === 0 ? parseRuntime(r.stdout) : undefined;
}

export interface SnapshotRequest {
  shell: Executor;
  container: Docker.Container;
  info: Docker.ContainerInspectInfo;
  /** runc under the container, or undefined: Docker's API. */
  runc: RuncRuntime | undefined;
  /** Docker's data root on the host (where Docker keeps a checkpoint). */
  dockerRoot: string;
  upperDir: string;
  /** The snapshot directory; `work`: CRIU's work directory (runc); `name`: Docker's checkpoint name. */
  out: string;
  work: string;
  name: string;
  /** run: the pre-migration checkpoint; final: the service stops (runc: frozen, Docker: exited). */
  kind: 'run' | 'final';
  what: string;
}

export interface Snapshot {
  bytes: number;
  /** The checkpoint's own time (ms): runc's (CRIU's included), or Docker's API call. */
  ms: number;
  /** Where the time went (ms): criu and runtime (runc), or docker; snapshot (Docker's path only). */
  parts: Record<string, number>;
}

/**
 * Checkpoints the container into a snapshot directory. With runc the images go straight into
 * `out/criu`, and a final checkpoint leaves the container frozen; with Docker they land in Docker's
 * checkpoint directory and are hard-linked out of it (the checkpoint `name` stays in Docker's list until
 * deleted), and a final checkpoint stops the container.
 */
export async function takeSnapshot(req: SnapshotRequest): Promise<Snapshot> {
  if (req.runc) {
    const r = await runChecked(
      req.shell,
      runcCheckpointArgv({
        ...req.runc,
        containerId: req.info.Id,
        images: `${req.out}/criu`,
        work: req.work,
        after: req.kind === 'final' ? 'freeze' : 'run',
        snapshot: { dir: req.out, upperDir: req.upperDir },
      }),
      { what: req.what, timeoutMs: 600_000 },
    );
    const [ns, criuS, bytes] = r.stdout.trim().split('\n');
    const runcMs = Number(ns) / 1e6;
    const criu = parseSeconds(criuS);
    const parts: Record<string, number> =
      criu === undefined
        ? { runtime: runcMs }
        : { criu: criu * 1000, runtime: Math.max(0, runcMs - criu * 1000) };
    return { bytes: sizeOf(bytes, req.what), ms: runcMs, parts };
  }
  const started = performance.now();
  await createCheckpoint(req.container, req.name, req.kind === 'final');
  const docker = performance.now() - started;
  const snapStarted = performance.now();
  const r = await runChecked(
    req.shell,
    snapshotArgv(req.out, checkpointDir(req.dockerRoot, req.info.Id, req.name), req.upperDir),
    { what: req.what, timeoutMs: 600_000 },
  );
  return {
    bytes: sizeOf(r.stdout.trim(), req.what),
    ms: docker,
    parts: { docker, snapshot: performance.now() - snapStarted },
  };
}

function sizeOf(text: string | undefined, what: string): number {
  const n = Number(text);
  if (text === undefined || text === '' || !Number.isFinite(n) || n < 0)
    throw new Error(`${what}: the snapshot's size was not printed (${JSON.stringify(text)})`);
  return n;
}
