/**
 * What a migration made where (its facts, kept in the journal), and the undo of each of its steps as a
 * function of those facts alone: the running migration and `edgectl recover` (in another process, after
 * the controller died) undo the same way.
 */

import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type Docker from 'dockerode';
import { deleteCheckpoint, startFromCheckpoint } from '../docker/checkpoint.js';
import { waitUntilAnswers } from '../docker/deploy.js';
import type { Host, Service } from '../inventory/index.js';
import { type Executor, runChecked, type SshPool } from '../remote/index.js';
import type { JournalOwner } from '../state/index.js';
import { sleep } from '../util/time.js';
import {
  checkpointDir,
  closeChannelArgv,
  closeMasterArgv,
  placeCheckpointArgv,
  primeNeighbourArgv,
  type RsyncTarget,
  type RuncRuntime,
  removeStagingArgv,
  runcKillFrozenArgv,
} from './commands.js';
import { settleDeadmanArgv, thawIfPausedArgv } from './deadman.js';

/** The journal's record of one migration: enough to undo or finish it from another process. */
export interface MigrationFacts {
  testbed: string;
  user: string;
  service: string;
  from: string;
  to: string;
  srcContainerId: string;
  srcContainerName: string;
  dstContainerId: string | null;
  /** runc under the source container (its final checkpoint freezes it), or null: Docker's API. */
  runc: RuncRuntime | null;
  srcRoot: string | null;
  srcStaging: string;
  dstStaging: string;
  checkpoints: { pre: string; final: string };
  /** The data channels' directories on the source, and their shared SSH connection. */
  channels: string[];
  transfer: RsyncTarget | null;
  /** The dead-man switch's directory on the source (null: none armed, Docker's checkpoint path). */
  deadman: string | null;
  /** Where the service listens (its port on the server), for a check that it answers. */
  port: number;
}

/** The steps that have an undo, in the order a migration registers them. */
export const UNDOABLE = ['staging', 'destination', 'deadman', 'freeze', 'restore'] as const;
export type UndoableStep = (typeof UNDOABLE)[number];

export function isUndoable(step: string): step is UndoableStep {
  return (UNDOABLE as readonly string[]).includes(step);
}

export interface SideHandle {
  host: Host;
  shell: Executor;
  docker: Docker;
}

export interface UndoEnv {
  facts: MigrationFacts;
  service: Service;
  pool: SshPool;
  src: SideHandle;
  dst: SideHandle;
  /** Whether the final checkpoint completed (the source can be restored from it). */
  finalTaken: boolean;
  /** How long the source must stay thawed before it counts as running: a checkpoint still under way on
   * the source (its controller died) can freeze it again as it ends. 0 in a running migration. */
  settleMs: number;
  /** Each remote call's deadline (ms). */
  timeoutMs: number;
}

/** Docker's answer for a container that is not there. */
function isGone(err: unknown): boolean {
  return (err as { statusCode?: number } | undefined)?.statusCode === 404;
}

/** A call that got no answer within its deadline (withDeadline). */
export class DeadlineExpired extends Error {}

/** A promise that rejects after `ms`: a call to a daemon that hangs must not hold an undo (or the downtime). */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new DeadlineExpired(`${what}: no answer within ${Math.round(ms)} ms`)),
      Math.max(0, ms),
    );
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Ends the data channels and their shared SSH connection (run on the source; each best effort). */
async function closeTransfers(env: UndoEnv): Promise<void> {
  const { facts } = env;
  for (const dir of facts.channels)
    await env.src.shell.run(closeChannelArgv(dir), { timeoutMs: env.timeoutMs }).catch(() => {});
  if (facts.transfer)
    await env.src.shell.run(closeMasterArgv(facts.transfer), { timeoutMs: env.timeoutMs }).catch(() => {});
}

/** Both sides' staging, one after the other (the lab's servers share one filesystem: the migration's
 * directory goes with the second side). */
async function removeStaging(env: UndoEnv): Promise<void> {
  for (const [side, dir] of [
    [env.src, env.facts.srcStaging],
    [env.dst, env.facts.dstStaging],
  ] as const)
    await runChecked(side.shell, removeStagingArgv(dir), {
      what: `removing ${dir} on ${side.host.name}`,
      timeoutMs: env.timeoutMs,
    });
}

/** The staging on both servers, the channels, and Docker's checkpoints of the source. */
async function undoStaging(env: UndoEnv): Promise<void> {
  const { facts } = env;
  await closeTransfers(env);
  const src = env.src.docker.getContainer(facts.srcContainerId);
  for (const name of [facts.checkpoints.pre, facts.checkpoints.final])
    await withDeadline(deleteCheckpoint(src, name), env.timeoutMs, 'deleting a checkpoint').catch(() => {});
  await removeStaging(env);
}

/**
 * The label of the container a migration creates on its destination: its staging directory there, unique
 * to the migration. A controller that died while Docker created it never learnt its id; the label finds it.
 */
export const MIGRATION_LABEL = 'io.edgectl.migration';

/** The container created on the destination (stopped and removed; already gone is fine). */
async function undoDestination(env: UndoEnv): Promise<void> {
  const { facts } = env;
  const ids = facts.dstContainerId
    ? [facts.dstContainerId]
    : (
        await withDeadline(
          env.dst.docker.listContainers({
            all: true,
            filters: { label: [`${MIGRATION_LABEL}=${facts.dstStaging}`] },
          }),
          env.timeoutMs,
          `listing the containers on ${env.dst.host.name}`,
        )
      ).map((c) => c.Id);
  for (const id of ids)
    await withDeadline(
      env.dst.docker
        .getContainer(id)
        .remove({ force: true })
        .catch((err: unknown) => {
          if (!isGone(err)) throw err;
        }),
      env.timeoutMs,
      `removing the container on ${env.dst.host.name}`,
    );
}

/** The dead-man switch disarmed (it may have fired: then the source runs again already). */
async function undoDeadman(env: UndoEnv): Promise<void> {
  const dir = env.facts.deadman;
  if (!dir) return;
  const r = await env.src.shell.run(settleDeadmanArgv(dir, 'disarmed'), { timeoutMs: env.timeoutMs });
  if (r.code !== 0 && r.code !== 3 && r.code !== 4)
    throw new Error(`disarming the dead-man switch on ${env.src.host.name}: ${r.stderr.trim()}`);
}

/** The host learns a restored container's MAC at once (best effort: true when it did). */
export async function primeNeighbour(
  shell: Executor,
  container: Docker.Container,
  timeoutMs: number,
): Promise<boolean> {
  try {
    const info = await withDeadline(container.inspect(), timeoutMs, 'inspecting the container');
    const net = Object.values(info.NetworkSettings.Networks ?? {}).find((n) => n.IPAddress && n.MacAddress);
    if (!net) return false;
    const r = await shell.run(primeNeighbourArgv(net.IPAddress, net.MacAddress), { timeoutMs });
    return r.code === 0;
  } catch {
    return false;
  }
}

/**
 * The service runs on the source again, as the final checkpoint found it: thawed (runc froze it), or
 * started from that checkpoint (Docker's path stopped it); then it must answer.
 */
async function undoFreeze(env: UndoEnv): Promise<void> {
  const { facts } = env;
  const container = env.src.docker.getContainer(facts.srcContainerId);
  if (facts.runc) {
    const runc = facts.runc;
    const thaw = () =>
      runChecked(env.src.shell, thawIfPausedArgv(runc, facts.srcContainerId), {
        what: `thawing the service on ${env.src.host.name}`,
        timeoutMs: env.timeoutMs,
      });
    await thaw();
    // A checkpoint its dead controller left running on the source may end after the thaw and leave the
    // service frozen again (as it found it): thawed until it stays so, for at most the call's deadline.
    const giveUp = Date.now() + env.timeoutMs;
    for (let waited = 0; waited < env.settleMs && Date.now() < giveUp; waited += 500) {
      await sleep(500);
      const r = await thaw();
      if (r.stdout.trim() === 'paused') waited = 0;
    }
  }
  const info = await withDeadline(
    container.inspect(),
    env.timeoutMs,
    `inspecting the service on ${env.src.host.name}`,
  );
  if (!info.State.Running) {
    if (!env.finalTaken)
      throw new Error(
        `the service's container on ${env.src.host.name} is stopped and its final checkpoint did not complete`,
      );
    if (facts.runc && facts.srcRoot)
      await runChecked(
        env.src.shell,
        placeCheckpointArgv(
          `${facts.srcStaging}/final/criu`,
          checkpointDir(facts.srcRoot, facts.srcContainerId, facts.checkpoints.final),
        ),
        { what: `placing the images on ${env.src.host.name}`, timeoutMs: env.timeoutMs },
      );
    await withDeadline(
      startFromCheckpoint(container, facts.checkpoints.final),
      env.timeoutMs,
      `starting the service from its checkpoint on ${env.src.host.name}`,
    );
    await primeNeighbour(env.src.shell, container, env.timeoutMs);
  }
  await waitUntilAnswers(container, env.service, Math.max(env.timeoutMs, 30_000), {
    pool: env.pool,
    host: env.src.host,
  });
}

/**
 * After the commit (the service answers on the destination, the database says so): the source's
 * container ended for good (a frozen one killed before it thaws, so none of its code runs again) and
 * removed, the channels closed, the staging on both servers removed.
 */
export async function finishOnSource(env: UndoEnv): Promise<void> {
  const { facts } = env;
  if (facts.runc)
    await env.src.shell.run(runcKillFrozenArgv(facts.runc, facts.srcContainerId), {
      timeoutMs: env.timeoutMs,
    });
  await withDeadline(
    env.src.docker
      .getContainer(facts.srcContainerId)
      .remove({ force: true })
      .catch((err: unknown) => {
        if (!isGone(err)) throw err;
      }),
    env.timeoutMs,
    `removing the source's container on ${env.src.host.name}`,
  );
  await closeTransfers(env);
  await removeStaging(env);
}

export const UNDO: Record<UndoableStep, (env: UndoEnv) => Promise<void>> = {
  staging: undoStaging,
  destination: undoDestination,
  deadman: undoDeadman,
  freeze: undoFreeze,
  // The restored container on the destination (stopped before the source runs again).
  restore: undoDestination,
};

/** The steps whose undo calls the destination's dockerd. */
const NEEDS_DST_DOCKER: ReadonlySet<UndoableStep> = new Set(['restore', 'destination']);

/**
 * UNDO for one migration's unwinding, except that once an undo found the destination's dockerd silent (a
 * deadline expired), every later undo that needs it fails at once with that reason: each would otherwise
 * wait a deadline of its own for a daemon that does not answer (a stopped dockerd made a rollback wait
 * twice 30 s, restore's undo then destination's, which are the same call). Failed undos stay owed in the
 * journal, and `edgectl recover` finishes them once the daemon answers.
 */
export function undoer(): (step: UndoableStep, env: UndoEnv) => Promise<void> {
  let silent: string | undefined;
  return async (step, env) => {
    const needs = NEEDS_DST_DOCKER.has(step);
    if (needs && silent !== undefined) throw new Error(`${silent} (not asked again)`);
    try {
      await UNDO[step](env);
    } catch (err) {
      if (needs && err instanceof DeadlineExpired) silent = err.message;
      throw err;
    }
  };
}

/** This process, as a journal's owner. */
export function currentOwner(): JournalOwner {
  return { pid: process.pid, host: hostname(), start: processStart(process.pid) };
}

/** A process's start time in clock ticks since boot (/proc/PID/stat field 22), or null. */
export function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from after its end.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether a journal's owner still runs: certain on this machine; on another one, unknown (undefined). */
export function ownerAlive(owner: JournalOwner): boolean | undefined {
  // Let go of (Journals.release): the migration returned, unfinished.
  if (owner.pid === 0) return false;
  if (owner.host !== hostname()) return undefined;
  const start = processStart(owner.pid);
  return start !== null && (owner.start === null || start === owner.start);
}
