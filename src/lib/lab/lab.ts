/**
 * `lab up`, `lab down`, `lab status`: the testbed of hosts.yml built on this machine out of network
 * namespaces, veths and bridges, with a real sshd per host and a real dockerd per server.
 */

import { existsSync } from 'node:fs';
import { readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ensureAppImage, type ImageReport } from '../docker/images.js';
import { InterruptedError, throwIfInterrupted, UnsupportedError } from '../errors.js';
import type { Inventory } from '../inventory/index.js';
import { helperFiles } from '../netem/nfqueue.js';
import { LocalExecutor, runChecked, SshPool } from '../remote/index.js';
import type { Executor } from '../remote/types.js';
import { sleep, waitFor } from '../util/time.js';
import {
  buildNamespaces,
  configureBatch,
  controllerSysctlArgv,
  createLinksBatch,
  createNamespacesBatch,
  dockerdArgv,
  ipBatchArgv,
  labNamespaces,
  namespaceSysctlArgv,
} from './commands.js';
import { clearDeadDockerd, startDaemons, writeHostFiles } from './daemons.js';
import { LabError } from './errors.js';
import { prepareKeys } from './keys.js';
import { type LabPaths, type LabPlan, planLab, sshdConfig } from './plan.js';
import {
  cgroupTree,
  dockerPing,
  isLabNetns,
  kill,
  labCgroups,
  linkExists,
  listNetns,
  mountsUnder,
  pidAlive,
  pidsInNetns,
  readPid,
} from './system.js';

export interface LabHostStatus {
  name: string;
  role: string;
  netns: string;
  address: string;
  running: boolean;
  sshd: boolean;
  /** null for hosts without a dockerd (APs, mu hosts). */
  dockerd: boolean | null;
}

export interface LabStatus {
  testbed: string;
  /** Every host's namespace exists and its daemons run. */
  up: boolean;
  controller: { interface: string; address: string; present: boolean };
  hosts: LabHostStatus[];
}

export interface LabStep {
  name: string;
  ms: number;
  detail?: string;
}

export interface LabOptions extends LabPaths {
  executor?: Executor;
  /**
   * Every new SSH session on every lab host waits this long before its command, and is logged (meant for
   * tests: the cost of a slow login shell, 0.1-2 s on real machines). 0: sshd as it comes.
   */
  sessionDelayMs?: number;
  onStep?: (step: LabStep) => void;
  /**
   * Ctrl+C / SIGTERM (lab up): no step starts after it; a lab this run was building is removed again
   * (lab down), a lab that was up before is left as it is; then an InterruptedError.
   */
  signal?: AbortSignal;
}

const REQUIRED_TOOLS = [
  'ip',
  'nsenter',
  'setsid',
  'sysctl',
  'ssh-keygen',
  '/usr/sbin/sshd',
  'dockerd',
  'containerd',
];

export { LabError } from './errors.js';

async function step<T>(
  options: LabOptions,
  name: string,
  work: () => Promise<T>,
  detail?: (t: T) => string,
): Promise<T> {
  const started = performance.now();
  const result = await work();
  const d = detail?.(result);
  options.onStep?.({ name, ms: Math.round(performance.now() - started), ...(d ? { detail: d } : {}) });
  return result;
}

async function preflight(exec: Executor): Promise<void> {
  if (process.getuid?.() !== 0) {
    throw new UnsupportedError('the local lab needs root (network namespaces, sshd and dockerd per host)', {
      hint: 'run edgectl lab up as root (sudo -E edgectl lab up)',
    });
  }
  const missing: string[] = [];
  await Promise.all(
    REQUIRED_TOOLS.map(async (tool) => {
      const r = await exec.run(['sh', '-c', 'command -v "$1"', 'which', tool]);
      if (r.code !== 0) missing.push(tool);
    }),
  );
  if (missing.length > 0) {
    throw new UnsupportedError(
      `the local lab needs ${missing.sort().join(', ')}, not found on this machine`,
      {
        hint: 'install the host dependencies: sudo scripts/install-host-deps.sh',
      },
    );
  }
}

/** The status of the lab of this inventory, read from the machine (namespaces, pid files, sockets). */
export async function labStatus(inv: Inventory, options: LabOptions = {}): Promise<LabStatus> {
  const plan = planLab(inv, options);
  const namespaces = new Set(await listNetns());
  const hosts = await Promise.all(
    plan.hosts.map(async (h): Promise<LabHostStatus> => {
      const netns = namespaces.has(h.ns);
      const sshdPid = await readPid(h.sshdPidFile);
      const sshd = netns && sshdPid !== undefined && pidAlive(sshdPid);
      const dockerd = h.docker ? netns && (await dockerPing(h.docker.socket)) : null;
      return {
        name: h.name,
        role: h.role,
        netns: h.ns,
        address: h.address,
        sshd,
        dockerd,
        running: netns && sshd && dockerd !== false,
      };
    }),
  );
  const present = linkExists(plan.controller.ifname);
  return {
    testbed: plan.testbed,
    up: present && namespaces.has(plan.hubNs) && hosts.every((h) => h.running),
    controller: { interface: plan.controller.ifname, address: plan.controller.address, present },
    hosts,
  };
}

/**
 * The session delay of this testbed's lab as it was brought up (`lab up --session-delay MS`; 0 without
 * one), or null when no lab of this testbed is up on this machine (a real rack, or the lab is down).
 */
export async function labSessionDelayMs(inv: Inventory, options: LabOptions = {}): Promise<number | null> {
  const plan = planLab(inv, options);
  const host = plan.hosts[0];
  if (!host || !(await listNetns()).includes(plan.hubNs)) return null;
  const script = await readFile(host.sessionScript, 'utf8').catch(() => undefined);
  if (script === undefined) return existsSync(host.sshdConfig) ? 0 : null;
  const m = /--session-delay (\d+)/.exec(script);
  return m?.[1] ? Number(m[1]) : null;
}

export interface LabDownResult {
  testbed: string;
  namespaces: string[];
  processesKilled: number;
  unmounted: number;
  purged: boolean;
}

/**
 * Removes everything a lab of this testbed made on this machine, whether a `lab up` finished or was
 * killed half-way: daemons (stopped gently first), every process left in its namespaces and cgroups,
 * mounts under its runtime and data directories, its namespaces (and with them every veth and bridge),
 * the controller's veth, the runtime directory. Docker data roots stay (images need not be loaded again)
 * unless `purge`.
 */
export async function labDown(
  inv: Inventory,
  options: LabOptions & { purge?: boolean } = {},
): Promise<LabDownResult> {
  const exec = options.executor ?? new LocalExecutor();
  const plan = planLab(inv, options);
  const tb = plan.testbed;
  let killed = 0;

  await step(options, 'stop daemons', async () => {
    // dockerd stops its containers and unmounts their filesystems when asked nicely.
    const dockerPids = (
      await Promise.all(plan.hosts.map((h) => (h.docker ? readPid(h.docker.pidFile) : undefined)))
    )
      .filter((p): p is number => p !== undefined)
      .filter(pidAlive);
    for (const pid of dockerPids) kill(pid, 'SIGTERM');
    await waitFor(() => dockerPids.every((p) => !pidAlive(p)), 20_000, 100);
  });

  const namespaces = (await listNetns()).filter((n) => isLabNetns(n, tb));
  await step(options, 'kill processes', async () => {
    for (let round = 0; round < 10; round++) {
      const pids = new Set<number>();
      for (const ns of namespaces) for (const pid of await pidsInNetns(ns)) pids.add(pid);
      for (const cg of await labCgroups(`${plan.nsPrefix}`))
        for (const pid of (await cgroupTree(cg)).pids) pids.add(pid);
      pids.delete(process.pid);
      if (pids.size === 0) break;
      for (const pid of pids) kill(pid, 'SIGKILL');
      killed += pids.size;
      await sleep(100);
    }
    // Cgroup directories go with rmdir only (their files are not removable), deepest first.
    for (const cg of await labCgroups(`${plan.nsPrefix}`)) {
      for (const dir of (await cgroupTree(cg)).dirs) await rmdir(dir).catch(() => {});
    }
  });

  const roots = [plan.runDir, plan.dataDir];
  const mounts = await step(options, 'unmount', async () => {
    const points = await mountsUnder(roots);
    for (const point of points) await exec.run(['umount', '-l', point]);
    return points.length;
  });

  await step(options, 'remove namespaces', async () => {
    if (namespaces.length > 0) {
      await exec.run(['ip', '-force', '-batch', '-'], {
        stdin: `${namespaces.map((n) => `netns del ${n}`).join('\n')}\n`,
      });
    }
    if (linkExists(plan.controller.ifname)) await exec.run(['ip', 'link', 'del', plan.controller.ifname]);
    await rm(plan.runDir, { recursive: true, force: true });
    // edgectl-delay's pidfiles and logs (its processes went with the namespaces).
    await rm(dirname(helperFiles(tb, 'any').pidfile), { recursive: true, force: true });
    if (options.purge) await rm(plan.dataDir, { recursive: true, force: true });
  });

  const left = (await listNetns()).filter((n) => isLabNetns(n, tb));
  if (left.length > 0 || linkExists(plan.controller.ifname)) {
    throw new LabError(`lab down left ${[...left, plan.controller.ifname].join(', ')} behind`);
  }
  return {
    testbed: tb,
    namespaces,
    processesKilled: killed,
    unmounted: mounts,
    purged: options.purge === true,
  };
}

async function batch(exec: Executor, ns: string, lines: readonly string[], what: string): Promise<void> {
  if (lines.length === 0) return;
  await runChecked(exec, ipBatchArgv(ns), { stdin: `${lines.join('\n')}\n`, what });
}

async function buildNetwork(exec: Executor, plan: LabPlan): Promise<void> {
  await batch(exec, '', createNamespacesBatch(plan), 'creating the namespaces');
  await Promise.all(
    labNamespaces(plan).map((ns) => runChecked(exec, namespaceSysctlArgv(ns), { what: `configuring ${ns}` })),
  );
  // Links first (every namespace exists now), in an order that puts bridges before their ports.
  for (const ns of buildNamespaces(plan))
    await batch(exec, ns, createLinksBatch(plan, ns), `creating links in ${ns || 'the root namespace'}`);
  await runChecked(exec, controllerSysctlArgv(plan));
  await Promise.all(
    buildNamespaces(plan).map((ns) =>
      batch(exec, ns, configureBatch(plan, ns), `configuring ${ns || 'the root namespace'}`),
    ),
  );
}

export interface LabUpResult extends LabStatus {
  /** false when the lab was already up as planned and nothing was rebuilt. */
  built: boolean;
  steps: LabStep[];
  /** The bundled services' image, on every server. */
  images: ImageReport[];
}

/** Loads the bundled services' image on every server, over SSH like on a real rack. */
async function loadImages(inv: Inventory, options: LabOptions): Promise<ImageReport[]> {
  const pool = new SshPool();
  try {
    return [
      await step(
        options,
        'images',
        () => ensureAppImage(inv, pool),
        (r) => imagesDetail(r),
      ),
    ];
  } finally {
    await pool.closeAll();
  }
}

function imagesDetail(r: ImageReport): string {
  const loaded = r.hosts.filter((h) => h.loaded).length;
  return `${r.name}, loaded on ${loaded} of ${r.hosts.length} servers`;
}

/**
 * Builds the lab (idempotent: a lab that is up as planned is left alone; leftovers of a killed or
 * different earlier lab of the same testbed are cleared first). On failure, what was built is removed.
 *
 * Interruptible (options.signal): no step starts after Ctrl+C; a step under way ends first (a terminal's
 * Ctrl+C also kills the `ip`, `nsenter` or `ssh-keygen` it runs, which fails the step). Then a lab this
 * run was building (from nothing, or over cleared leftovers) is removed, down to what `lab down` removes,
 * so the machine is as before; a lab that was up before is left up (its daemons run in sessions of their
 * own: a Ctrl+C in the terminal that started them does not reach them). Throws an InterruptedError.
 */
export async function labUp(inv: Inventory, options: LabOptions = {}): Promise<LabUpResult> {
  const run = { building: false, undone: false };
  try {
    return await labUpSteps(inv, options, run);
  } catch (err) {
    const signal = options.signal;
    if (!signal?.aborted) throw err;
    if (run.building && !run.undone) {
      await labDown(inv, { ...options, onStep: () => {} }).catch(() => {});
      run.undone = true;
    }
    const name = signal.reason instanceof InterruptedError ? signal.reason.signalName : 'abort';
    const left = run.building
      ? 'the lab it was building was removed again (nothing of it is left)'
      : 'a lab that was up is left up, one that was not is not built (run lab up again to finish)';
    throw new InterruptedError(name, `lab up interrupted (${name}): ${left}`, {
      ...(err instanceof InterruptedError ? {} : { cause: err }),
    });
  }
}

async function labUpSteps(
  inv: Inventory,
  options: LabOptions,
  run: { building: boolean; undone: boolean },
): Promise<LabUpResult> {
  const signal = options.signal;
  const exec = options.executor ?? new LocalExecutor();
  const steps: LabStep[] = [];
  const opts: LabOptions = {
    ...options,
    onStep: (s) => {
      steps.push(s);
      options.onStep?.(s);
    },
  };
  const plan = planLab(inv, options);
  const sessionDelay = options.sessionDelayMs ?? 0;
  await step(opts, 'preflight', () => preflight(exec));
  throwIfInterrupted(signal);
  const planFile = join(plan.runDir, 'plan.json');
  // Everything the lab is made from: a lab built from other configs or daemon flags is rebuilt.
  const built = {
    plan,
    sshd: plan.hosts.map((h) => sshdConfig(plan, h, sessionDelay)),
    dockerd: plan.hosts.flatMap((h) => (h.docker ? [dockerdArgv(h)] : [])),
  };
  const planText = `${JSON.stringify(built, null, 2)}\n`;
  const current = await labStatus(inv, options);
  const samePlan = existsSync(planFile) && (await readFile(planFile, 'utf8')) === planText;
  // The keys live in the runtime directory, which clearing leftovers removes: on each path, after that.
  const keys = async () => {
    await step(opts, 'keys', () => prepareKeys(exec, inv, plan));
    throwIfInterrupted(signal);
  };
  if (current.up && samePlan) {
    await keys();
    const images = await loadImages(inv, opts);
    throwIfInterrupted(signal);
    return { ...current, built: false, steps, images };
  }
  // The same lab with some daemons dead (a crash, a test that stopped one): start just those again.
  const namespaces = new Set(await listNetns());
  const wired =
    samePlan &&
    linkExists(plan.controller.ifname) &&
    [plan.hubNs, ...plan.hosts.map((h) => h.ns)].every((n) => namespaces.has(n));
  if (wired) {
    await keys();
    const dead = (name: string, what: 'sshd' | 'dockerd') =>
      current.hosts.find((x) => x.name === name)?.[what] === false;
    const sshd = plan.hosts.filter((h) => dead(h.name, 'sshd'));
    const dockerd = plan.hosts.filter((h) => h.docker && dead(h.name, 'dockerd'));
    await step(
      opts,
      'repair',
      async () => {
        await writeHostFiles(plan, sessionDelay);
        await Promise.all(dockerd.map(clearDeadDockerd));
        await startDaemons(exec, { sshd, dockerd }, signal);
      },
      () =>
        [...sshd.map((h) => `sshd of ${h.name}`), ...dockerd.map((h) => `dockerd of ${h.name}`)].join(', ') ||
        'nothing',
    );
    throwIfInterrupted(signal);
    const repaired = await labStatus(inv, options);
    if (repaired.up) {
      const images = await loadImages(inv, opts);
      throwIfInterrupted(signal);
      return { ...repaired, built: false, steps, images };
    }
  }
  const leftovers = (await listNetns()).some((n) => isLabNetns(n, plan.testbed)) || existsSync(plan.runDir);
  // From here on this run builds the lab anew: interrupted, it removes what it built.
  run.building = true;
  if (leftovers || linkExists(plan.controller.ifname)) {
    await step(opts, 'clear leftovers', () => labDown(inv, { ...options, executor: exec }));
  }
  try {
    throwIfInterrupted(signal);
    await keys();
    await step(
      opts,
      'network',
      () => buildNetwork(exec, plan),
      () => `${plan.hosts.length} hosts, ${plan.veths.length} veths`,
    );
    await step(
      opts,
      'daemons',
      async () => {
        throwIfInterrupted(signal);
        await writeHostFiles(plan, sessionDelay);
        await startDaemons(exec, { sshd: plan.hosts, dockerd: plan.hosts.filter((h) => h.docker) }, signal);
      },
      () => `${plan.hosts.length} sshd, ${plan.hosts.filter((h) => h.docker).length} dockerd`,
    );
    await writeFile(planFile, planText);
  } catch (err) {
    await labDown(inv, { ...options, executor: exec }).catch(() => {});
    run.undone = true;
    throw err;
  }
  const status = await labStatus(inv, options);
  if (!status.up) {
    const down = status.hosts.filter((h) => !h.running).map((h) => h.name);
    throw new LabError(`the lab came up incompletely: ${down.join(', ')} not running`);
  }
  throwIfInterrupted(signal);
  const images = await loadImages(inv, opts);
  throwIfInterrupted(signal);
  return { ...status, built: true, steps, images };
}
