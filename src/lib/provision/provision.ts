/**
 * `edgectl provision`: brings every host to what hosts.yml asks for (link shaping, NAT on the APs,
 * the users' paths, host-to-host trust), over SSH, changing only what differs; `reset` removes what
 * provisioning made and nothing else; `dryRun` reads and reports without changing anything.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorMessage, UnsupportedError } from '../errors.js';
import { parseTcProbe, probeArgv, probeInterfaceName } from '../hosts/probes.js';
import { type Host, type Inventory, serverHosts } from '../inventory/index.js';
import { parseAddrs } from '../netem/ip.js';
import {
  LocalExecutor,
  runBatch,
  runChecked,
  ShellExecutor,
  type SshPool,
  shellJoin,
} from '../remote/index.js';
import type { Executor } from '../remote/types.js';
import { type HostFacts, hostUnits, serverKnownHosts, type TrustMaterial, wiredFlows } from './plan.js';
import type { Cmd, Unit } from './units.js';

export interface UnitReport {
  id: string;
  changed: boolean;
}

export interface HostProvision {
  name: string;
  role: string;
  changed: boolean;
  /** The commands run (or, with dryRun, that would run), as shell words. */
  commands: string[];
  units: UnitReport[];
  /** Whether the links' latency is emulated (netem); null where the host shapes no latency. */
  latencyEmulated: boolean | null;
  error?: { message: string; command?: string; stderr?: string };
}

export interface ProvisionResult {
  testbed: string;
  dryRun: boolean;
  reset: boolean;
  changed: boolean;
  ok: boolean;
  hosts: HostProvision[];
}

export interface ProvisionOptions {
  dryRun?: boolean;
  reset?: boolean;
  requireNetem?: boolean;
  /** Only these hosts (default: all). */
  only?: readonly string[];
  onHost?: (h: HostProvision) => void;
}

/** Where the testbed's own key pair (host-to-host trust) is kept on the controller. */
export function testbedKeyFile(inv: Inventory): string {
  return join(inv.dir, '.edgectl', 'testbed', inv.testbed, 'id_ed25519');
}

export function describeCmd(c: Cmd): string {
  return `${shellJoin(c.argv)}${c.stdin === undefined ? '' : ` <<< (${Buffer.byteLength(c.stdin)} bytes)`}`;
}

async function trustMaterial(inv: Inventory, pool: SshPool): Promise<TrustMaterial> {
  const local = new LocalExecutor();
  const file = testbedKeyFile(inv);
  if (!existsSync(file)) {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await runChecked(local, [
      'ssh-keygen',
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      `edgectl-testbed-${inv.testbed}`,
      '-f',
      file,
    ]);
  }
  const hostKeys = new Map<string, string>();
  for (const s of serverHosts(inv)) hostKeys.set(s.name, (await pool.connect(s)).hostKey);
  return {
    privateKey: await readFile(file, 'utf8'),
    publicKey: await readFile(`${file}.pub`, 'utf8'),
    knownHosts: serverKnownHosts(inv, hostKeys),
  };
}

async function readFacts(
  exec: Executor,
  inv: Inventory,
  host: Host,
  probeNetem: boolean,
): Promise<HostFacts> {
  const addrs = parseAddrs((await runChecked(exec, ['ip', '-j', 'addr', 'show'])).stdout);
  let netem: boolean | null = null;
  if (probeNetem && wiredFlows(inv, host).some((f) => f.delayMs > 0)) {
    const r = await exec.run(probeArgv.tc(probeInterfaceName()));
    netem = r.code === 0 && parseTcProbe(r.stdout).netem;
  }
  return { addrs, netem };
}

class StepFailed extends Error {
  constructor(
    message: string,
    readonly command?: string,
    readonly stderr?: string,
  ) {
    super(message);
  }
}

async function converge(
  exec: Executor,
  units: Unit[],
  report: HostProvision,
  options: ProvisionOptions,
): Promise<void> {
  const ordered = options.reset ? [...units].reverse() : units;
  // Every unit reads a part of the state no other unit changes: read them all in one round trip, then
  // converge in order.
  const all = await runBatch(
    exec,
    ordered.flatMap((u) => u.probes),
  );
  let next = 0;
  const outputs = ordered.map((u) => u.probes.map(() => all[next++]?.stdout ?? ''));
  for (const [i, unit] of ordered.entries()) {
    const verdict = unit.decide(outputs[i] ?? []);
    const cmds = options.reset ? verdict.reset : verdict.current ? [] : verdict.apply;
    report.units.push({ id: unit.id, changed: cmds.length > 0 });
    for (const c of cmds) {
      report.commands.push(describeCmd(c));
      report.changed = true;
      if (options.dryRun) continue;
      const r = await exec.run(c.argv, c.stdin === undefined ? {} : { stdin: c.stdin });
      if (r.code !== 0) {
        throw new StepFailed(
          `${unit.id}: \`${describeCmd(c)}\` exited with ${r.code}`,
          describeCmd(c),
          r.stderr.trim(),
        );
      }
    }
  }
}

export async function provision(
  inv: Inventory,
  pool: SshPool,
  options: ProvisionOptions = {},
): Promise<ProvisionResult> {
  // One persistent shell per host: a provisioning run is many small commands, and each new SSH session
  // costs the host a login shell's start-up.
  const shells = new Map<string, ShellExecutor>();
  const shellOf = (h: Host): ShellExecutor => {
    let shell = shells.get(h.name);
    if (!shell) {
      shell = new ShellExecutor(pool, h);
      shells.set(h.name, shell);
    }
    return shell;
  };
  try {
    return await provisionWith(inv, pool, options, shellOf);
  } finally {
    await Promise.all([...shells.values()].map((s) => s.close()));
  }
}

async function provisionWith(
  inv: Inventory,
  pool: SshPool,
  options: ProvisionOptions,
  shellOf: (h: Host) => ShellExecutor,
): Promise<ProvisionResult> {
  const hosts = options.only?.length ? inv.hosts.filter((h) => options.only?.includes(h.name)) : inv.hosts;
  const reports = new Map<string, HostProvision>(
    hosts.map((h) => [
      h.name,
      { name: h.name, role: h.role, changed: false, commands: [], units: [], latencyEmulated: null },
    ]),
  );
  const fail = (host: string, err: unknown) => {
    const r = reports.get(host);
    if (!r) return;
    r.error =
      err instanceof StepFailed
        ? {
            message: err.message,
            ...(err.command ? { command: err.command } : {}),
            ...(err.stderr ? { stderr: err.stderr } : {}),
          }
        : { message: errorMessage(err) };
  };

  // Facts of every host first: the APs route to the users on the mu hosts, so they need those.
  const facts = new Map<string, HostFacts>();
  const factHosts = options.only?.length
    ? [...new Set([...hosts, ...inv.hosts.filter((h) => h.role === 'mu')])]
    : hosts;
  await Promise.all(
    factHosts.map(async (h) => {
      try {
        facts.set(h.name, await readFacts(shellOf(h), inv, h, !options.reset));
      } catch (err) {
        fail(h.name, err);
      }
    }),
  );
  for (const h of hosts) {
    const f = facts.get(h.name);
    const report = reports.get(h.name);
    if (!f || !report) continue;
    report.latencyEmulated = f.netem;
  }
  const noNetem = hosts.filter((h) => facts.get(h.name)?.netem === false).map((h) => h.name);
  if (options.requireNetem && noNetem.length > 0 && !options.reset) {
    throw new UnsupportedError(
      `no tc netem on ${noNetem.join(', ')}: link latency cannot be emulated there`,
      {
        hint: 'use hosts whose kernel has sch_netem, or drop --require-netem to shape bandwidth only',
      },
    );
  }

  // A reset needs no key material: it removes by the testbed's marker and directory.
  let trust: TrustMaterial | undefined = options.reset
    ? { privateKey: '', publicKey: '', knownHosts: '' }
    : undefined;
  if (!options.reset && hosts.some((h) => h.isServer)) {
    try {
      trust = await trustMaterial(inv, pool);
    } catch (err) {
      for (const h of hosts.filter((x) => x.isServer)) fail(h.name, err);
    }
  }
  const muFacts = new Map(
    [...facts].filter(([name]) => inv.hosts.find((h) => h.name === name)?.role === 'mu'),
  );

  await Promise.all(
    hosts.map(async (h) => {
      const report = reports.get(h.name)!;
      const f = facts.get(h.name);
      if (!f || report.error) return;
      try {
        const units = hostUnits(inv, h, f, { muFacts, ...(trust ? { trust } : {}) });
        await converge(shellOf(h), units, report, options);
      } catch (err) {
        fail(h.name, err);
      }
      options.onHost?.(report);
    }),
  );
  const list = hosts.map((h) => reports.get(h.name)!);
  return {
    testbed: inv.testbed,
    dryRun: options.dryRun === true,
    reset: options.reset === true,
    changed: list.some((r) => r.changed),
    ok: list.every((r) => !r.error),
    hosts: list,
  };
}
