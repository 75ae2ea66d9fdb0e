/**
 * The lab's daemons: each host's sshd and each server's dockerd, their files under /run, started in
 * sessions of their own and waited for.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { throwIfInterrupted } from '../errors.js';
import { runChecked, shellJoin } from '../remote/index.js';
import type { Executor } from '../remote/types.js';
import { waitFor } from '../util/time.js';
import { dockerdArgv, sshdArgv } from './commands.js';
import { LabError } from './errors.js';
import {
  authorizedKeysFiles,
  dockerDaemonConfig,
  type LabHostPlan,
  type LabPlan,
  sessionScript,
  sshdConfig,
} from './plan.js';
import { dockerPing, kill, pidsInNetns } from './system.js';

export function tcpOpen(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: address, port, timeout: 500 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function tail(file: string, lines = 8): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** This edgectl, for the lab's hosts: they share this machine's files, so they share its install. */
const EDGECTL_ENTRY = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));

export async function writeHostFiles(plan: LabPlan, sessionDelayMs: number): Promise<void> {
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  await mkdir(plan.runDir, { recursive: true, mode: 0o755 });
  await writeFile(plan.edgectlBin, `#!/bin/sh\nexec ${shellJoin([process.execPath, EDGECTL_ENTRY])} "$@"\n`, {
    mode: 0o755,
  });
  await Promise.all(
    plan.hosts.map(async (h) => {
      await mkdir(h.runDir, { recursive: true, mode: 0o755 });
      await writeFile(h.sshdConfig, sshdConfig(plan, h, sessionDelayMs));
      if (sessionDelayMs > 0)
        await writeFile(h.sessionScript, sessionScript(h, sessionDelayMs, authorizedKeysFiles(plan, h)));
      if (h.docker) {
        await writeFile(h.docker.configFile, dockerDaemonConfig());
        await mkdir(h.docker.dataRoot, { recursive: true, mode: 0o711 });
      }
    }),
  );
}

/** Starts the sshd of `sshd` hosts and the dockerd of `dockerd` hosts, and waits until they answer. */
export async function startDaemons(
  exec: Executor,
  which: { sshd: readonly LabHostPlan[]; dockerd: readonly LabHostPlan[] },
  signal?: AbortSignal,
): Promise<void> {
  const stopped = () => signal?.aborted === true;
  await Promise.all([
    ...which.sshd.map((h) => runChecked(exec, sshdArgv(h), { what: `starting sshd of ${h.name}` })),
    ...which.dockerd.map((h) => runChecked(exec, dockerdArgv(h), { what: `starting dockerd of ${h.name}` })),
  ]);
  await Promise.all([
    ...which.sshd.map(async (h) => {
      if (!(await waitFor(async () => stopped() || (await tcpOpen(h.address, h.sshPort)), 15_000))) {
        throw new LabError(`sshd of ${h.name} does not listen on ${h.address}:${h.sshPort}`);
      }
    }),
    ...which.dockerd.map(async (h) => {
      if (
        h.docker &&
        !(await waitFor(async () => stopped() || (await dockerPing(h.docker!.socket)), 60_000, 200))
      ) {
        throw new LabError(
          `dockerd of ${h.name} did not come up within 60 s; its log (${h.docker.logFile}) ends:\n${await tail(h.docker.logFile)}`,
        );
      }
    }),
  ]);
  throwIfInterrupted(signal);
}

/** Stops what is left of a dead dockerd (its containerd and shims) so that a new one can start clean. */
export async function clearDeadDockerd(h: LabHostPlan): Promise<void> {
  if (!h.docker) return;
  const pids = await pidsInNetns(h.ns);
  for (const pid of pids) {
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes(h.docker.execRoot)) kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await waitFor(async () => {
    for (const pid of await pidsInNetns(h.ns)) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes(h.docker!.execRoot)) return false;
    }
    return true;
  }, 5_000); // dockerd refuses to start while its pid file names a live pid, and a dead daemon that nobody reaped
  // (a pid 1 that does not reap, as on some VMs and containers) still has one.
  await rm(h.docker.pidFile, { force: true });
  // The same goes for the containerd it manages (dockerd would wait for the dead one's socket).
  await rm(join(h.docker.execRoot, 'containerd', 'containerd.pid'), { force: true });
}
