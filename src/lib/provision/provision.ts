/**
 * `edgectl provision`: brings every host to what hosts.yml asks for (link shaping, NAT on the APs,
 * the users' paths, host-to-host trust), over SSH, changing only what differs; `reset` removes what
 * provisioning made and nothing else; `dryRun` reads and reports without changing anything.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { errorMessage, InterruptedError, UnsupportedError } from '../errors.js';
import {
  delayUnusable,
  netemUnusable,
  parseDelayProbe,
  parseTcProbe,
  probeArgv,
  probeInterfaceName,
} from '../hosts/probes.js';
import { type Host, type Inventory, serverHosts } from '../inventory/index.js';
import { parseAddrs } from '../netem/ip.js';
import { chooseLatency, type LatencyMode } from '../netem/nfqueue.js';
import {
  LocalExecutor,
  runBatch,
  runChecked,
  ShellExecutor,
  type SshPool,
  shellJoin,
} from '../remote/index.js';
import { readOwnPrivateKey } from '../remote/keys.js';
import type { Executor } from '../remote/types.js';
import { testbedKeyMarker } from './authorized-keys.js';
import {
  type HostFacts,
  hostUnits,
  type LatencyMethod,
  serverKnownHosts,
  type TrustMaterial,
  wiredFlows,
} from './plan.js';
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
  /** Whether the latency of the links into this host is emulated; null where the host has none to emulate. */
  latencyEmulated: boolean | null;
  /** How: netem under the HTB classes, or edgectl-delay on arrival (NFQUEUE); null where not emulated. */
  latencyMethod: LatencyMethod | null;
  /** Why latency is not emulated here (the kernel's, tc's or the helper's own words). */
  latencyReasons?: string[];
  /** What the live state showed that deserves a word (e.g. edgectl-delay had died and was started again). */
  notes?: string[];
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

export { chooseLatency, LATENCY_MODES, type LatencyMode } from '../netem/nfqueue.js';

export interface ProvisionOptions {
  dryRun?: boolean;
  reset?: boolean;
  /** How to emulate latency: netem where the kernel has it, else edgectl-delay (auto, the default), or one of them. */
  latency?: LatencyMode;
  /** Fail, before changing anything, where the latency of a host's links cannot be emulated. */
  requireLatency?: boolean;
  /** Only these hosts (default: all). */
  only?: readonly string[];
  onHost?: (h: HostProvision) => void;
  /**
   * Ctrl+C / SIGTERM: a host whose changes have not started is left untouched; a host whose changes are
   * under way gets all of them (they are sent as one script, see applyScript); then the run throws an
   * InterruptedError whose details say which hosts were finished and which were left untouched.
   */
  signal?: AbortSignal;
}

/** What an interrupted run did, per host (the details of its InterruptedError). */
export interface ProvisionInterrupted {
  /** Every change of this run was made there (or none was needed). */
  finished: string[];
  /** This run changed nothing there (some may have failed before changing anything: see `hosts`). */
  untouched: string[];
  /** Their list of changes started and then failed (the command and its stderr are in `hosts`). */
  failed: string[];
  hosts: HostProvision[];
}

/** Sorts the hosts of an interrupted run: finished (`done`), failed after their changes began, untouched. */
export function interruptedDetails(
  hosts: readonly HostProvision[],
  done: ReadonlySet<string>,
  begun: ReadonlySet<string>,
): ProvisionInterrupted {
  return {
    finished: hosts.filter((h) => done.has(h.name)).map((h) => h.name),
    untouched: hosts.filter((h) => !done.has(h.name) && !begun.has(h.name)).map((h) => h.name),
    failed: hosts.filter((h) => !done.has(h.name) && begun.has(h.name)).map((h) => h.name),
    hosts: hosts.map((h) => ({ ...h })),
  };
}

/** The InterruptedError of a run stopped by `signal`, naming the finished and the untouched hosts. */
export function interruptedRun(
  signal: AbortSignal,
  details: ProvisionInterrupted,
  reset: boolean,
): InterruptedError {
  const name = signal.reason instanceof InterruptedError ? signal.reason.signalName : 'abort';
  const list = (names: string[]) => (names.length > 0 ? names.join(', ') : 'none');
  const failed = details.failed.length > 0 ? `; failed half-way: ${list(details.failed)}` : '';
  return new InterruptedError(
    name,
    `interrupted (${name}): ${reset ? 'reset' : 'provisioned'} completely: ${list(details.finished)}; ` +
      `untouched by this run: ${list(details.untouched)}${failed}`,
    {
      hint: `run edgectl provision${reset ? ' --reset' : ''} again to do the untouched hosts`,
      details,
    },
  );
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
    // Made under another name, then renamed: a Ctrl+C reaches ssh-keygen too (it runs in the terminal's
    // process group), and a key without its .pub would break every later run.
    const fresh = `${file}.new`;
    await rm(fresh, { force: true });
    await rm(`${fresh}.pub`, { force: true });
    await runChecked(local, [
      'ssh-keygen',
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      testbedKeyMarker(inv.testbed),
      '-f',
      fresh,
    ]);
    await rename(`${fresh}.pub`, `${file}.pub`);
    await rename(fresh, file);
  }
  // Only a key of this user's alone is authorised (its public half derived from it, not read from .pub).
  const key = await readOwnPrivateKey(file);
  const hostKeys = new Map<string, string>();
  for (const s of serverHosts(inv)) hostKeys.set(s.name, (await pool.connect(s)).hostKey);
  return { ...key, knownHosts: serverKnownHosts(inv, hostKeys) };
}

interface ReadFacts extends HostFacts {
  /** Whether the host's links have any latency to emulate. */
  needsLatency: boolean;
  latencyReasons: string[];
}

async function readFacts(
  exec: Executor,
  inv: Inventory,
  host: Host,
  mode: LatencyMode | undefined,
): Promise<ReadFacts> {
  const addrs = parseAddrs((await runChecked(exec, ['ip', '-j', 'addr', 'show'])).stdout);
  const needsLatency = host.role !== 'mu' && wiredFlows(inv, host).some((f) => f.delayMs > 0);
  const facts: ReadFacts = {
    addrs,
    netem: null,
    nfqueue: null,
    latency: null,
    needsLatency,
    latencyReasons: [],
  };
  // A reset (no mode) removes whatever is there: it needs no probe.
  if (!mode || !needsLatency) return facts;
  const [tc, delay] = await Promise.all([
    mode === 'nfqueue' ? undefined : exec.run(probeArgv.tc(probeInterfaceName())),
    mode === 'netem' ? undefined : exec.run(probeArgv.delay()),
  ]);
  if (tc) {
    const why = netemUnusable(parseTcProbe(tc.stdout), tc.code);
    facts.netem = why.length === 0;
    facts.latencyReasons.push(...why);
  }
  if (delay) {
    const why = delayUnusable(parseDelayProbe(delay.stdout), delay.code);
    facts.nfqueue = why.length === 0;
    facts.latencyReasons.push(...why);
  }
  facts.latency = chooseLatency(mode, facts.netem, facts.nfqueue);
  return facts;
}

/** Resolves when `signal` is aborted (never without one). */
function untilAborted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (!signal) return;
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
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

const APPLY_MARK = '@edgectl-apply';

/**
 * One host's whole list of changes as one `sh` script, sent in one piece: once the host's shell has it,
 * the list runs to its end on the host whatever happens to the controller (Ctrl+C, a third Ctrl+C that
 * quits at once, a lost connection), so a host is never left with half of its list. The commands run in
 * order and the first that fails stops the rest; the script then prints `MARK INDEX CODE` and that
 * command's stderr, else `MARK done`. A command's stdin travels base64-encoded in the script itself.
 */
export function applyScript(cmds: readonly Cmd[]): string {
  const lines = ['E=$(mktemp) || exit 97', 'trap \'rm -f "$E"\' EXIT'];
  for (const [i, c] of cmds.entries()) {
    const input =
      c.stdin === undefined
        ? { before: '', after: ' </dev/null' }
        : { before: `printf '%s' '${Buffer.from(c.stdin).toString('base64')}' | base64 -d | `, after: '' };
    lines.push(
      `${input.before}{ ${shellJoin(c.argv)}\n}${input.after} >/dev/null 2>"$E" || ` +
        `{ c=$?; printf '${APPLY_MARK} ${i} %d\\n' "$c"; cat "$E"; exit 0; }`,
    );
  }
  lines.push(`printf '${APPLY_MARK} done\\n'`, '');
  return lines.join('\n');
}

export type ApplyOutcome =
  | { ok: true }
  | { ok: false; index: number; code: number; stderr: string }
  | { ok: false; index: undefined; stderr: string };

/** What an applyScript's stdout says: all done, or which command failed with which code and stderr. */
export function parseApply(stdout: string): ApplyOutcome {
  if (new RegExp(`^${APPLY_MARK} done$`, 'm').test(stdout)) return { ok: true };
  const m = new RegExp(`^${APPLY_MARK} (\\d+) (\\d+)\n`, 'm').exec(stdout);
  if (!m) return { ok: false, index: undefined, stderr: '' };
  return {
    ok: false,
    index: Number(m[1]),
    code: Number(m[2]),
    stderr: stdout.slice(m.index + m[0].length),
  };
}

/**
 * Reads a host's state, decides, and applies (calling `begin` first); false when `signal` came before
 * any change was made.
 */
async function converge(
  exec: Executor,
  units: Unit[],
  report: HostProvision,
  options: ProvisionOptions,
  begin: () => void,
): Promise<boolean> {
  const ordered = options.reset ? [...units].reverse() : units;
  // Every unit reads a part of the state no other unit changes: read them all in one round trip, then
  // converge in order.
  const all = await runBatch(
    exec,
    ordered.flatMap((u) => u.probes),
  );
  let next = 0;
  const outputs = ordered.map((u) => u.probes.map(() => all[next++]?.stdout ?? ''));
  const planned = ordered.map((unit, i) => {
    const verdict = unit.decide(outputs[i] ?? []);
    const cmds = options.reset ? verdict.reset : verdict.current ? [] : verdict.apply;
    if (!options.reset && cmds.length > 0 && verdict.notes?.length)
      report.notes = [...(report.notes ?? []), ...verdict.notes];
    return { unit, cmds };
  });
  const cmds = planned.flatMap((p) => p.cmds.map((c) => ({ id: p.unit.id, c })));
  // The last moment at which an interruption leaves the host untouched; from here on it gets the whole list.
  if (cmds.length > 0 && !options.dryRun && options.signal?.aborted) return false;
  for (const p of planned) report.units.push({ id: p.unit.id, changed: p.cmds.length > 0 });
  report.commands.push(...cmds.map(({ c }) => describeCmd(c)));
  report.changed = cmds.length > 0;
  if (options.dryRun || cmds.length === 0) return true;
  const script = applyScript(cmds.map(({ c }) => c));
  begin();
  const r = await exec.run(['sh', '-s'], { stdin: script });
  const outcome = parseApply(r.stdout);
  if (outcome.ok) return true;
  const failed = outcome.index === undefined ? undefined : cmds[outcome.index];
  if (!failed || outcome.index === undefined) {
    throw new StepFailed(
      `the host's list of changes ended early (sh exited with ${r.code})`,
      undefined,
      r.stderr.trim(),
    );
  }
  throw new StepFailed(
    `${failed.id}: \`${describeCmd(failed.c)}\` exited with ${outcome.code}`,
    describeCmd(failed.c),
    outcome.stderr.trim(),
  );
}

/**
 * What provision does on one host, for a list of units given by the caller (e.g. the trust units of
 * another testbed): read, decide, apply (or reset) in one script. The report says what changed; a failed
 * change is in its `error`, as in provision's result.
 */
export async function convergeUnits(
  exec: Executor,
  units: Unit[],
  options: Pick<ProvisionOptions, 'reset' | 'dryRun'> = {},
): Promise<HostProvision> {
  const report: HostProvision = {
    name: exec.host,
    role: '',
    changed: false,
    commands: [],
    units: [],
    latencyEmulated: null,
    latencyMethod: null,
  };
  try {
    await converge(exec, units, report, options, () => {});
  } catch (err) {
    report.error =
      err instanceof StepFailed
        ? { message: err.message, ...(err.stderr ? { stderr: err.stderr } : {}) }
        : { message: errorMessage(err) };
  }
  return report;
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
      {
        name: h.name,
        role: h.role,
        changed: false,
        commands: [],
        units: [],
        latencyEmulated: null,
        latencyMethod: null,
      },
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
  const facts = new Map<string, ReadFacts>();
  const factHosts = options.only?.length
    ? [...new Set([...hosts, ...inv.hosts.filter((h) => h.role === 'mu')])]
    : hosts;
  // Only reads so far: an interruption need not wait for them (the first SSH connections can take
  // seconds on a busy controller: 3-7 s each here, with 2 CPUs at a load of 5).
  await Promise.race([
    Promise.all(
      factHosts.map(async (h) => {
        try {
          facts.set(
            h.name,
            await readFacts(shellOf(h), inv, h, options.reset ? undefined : (options.latency ?? 'auto')),
          );
        } catch (err) {
          fail(h.name, err);
        }
      }),
    ),
    untilAborted(options.signal),
  ]);
  for (const h of hosts) {
    const f = facts.get(h.name);
    const report = reports.get(h.name);
    if (!f || !report || options.reset || !f.needsLatency) continue;
    report.latencyEmulated = f.latency !== null;
    report.latencyMethod = f.latency;
    if (f.latency === null) report.latencyReasons = f.latencyReasons;
  }
  // Hosts whose run ended well, and hosts whose list of changes was sent: the others are untouched.
  const done = new Set<string>();
  const begun = new Set<string>();
  const stopIfInterrupted = () => {
    if (!options.signal?.aborted) return;
    const list = hosts.map((h) => reports.get(h.name)!);
    throw interruptedRun(options.signal, interruptedDetails(list, done, begun), options.reset === true);
  };
  stopIfInterrupted();
  const mode = options.latency ?? 'auto';
  const without = hosts.filter((h) => reports.get(h.name)?.latencyEmulated === false);
  if (!options.reset && without.length > 0 && (options.requireLatency || mode !== 'auto')) {
    const why = without.map((h) => `${h.name} (${(reports.get(h.name)?.latencyReasons ?? []).join('; ')})`);
    throw new UnsupportedError(
      `link latency cannot be emulated${mode === 'auto' ? '' : ` with ${mode}`} on ${why.join(', ')}; nothing was changed`,
      {
        hint:
          mode === 'netem'
            ? 'use hosts whose kernel has sch_netem, or --latency auto (edgectl-delay where there is no netem)'
            : 'install edgectl-delay on those hosts (edgectl provision --install-deps), or use hosts whose kernel has sch_netem',
        details: { hosts: without.map((h) => reports.get(h.name)) },
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
  stopIfInterrupted();
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
        if (await converge(shellOf(h), units, report, options, () => begun.add(h.name))) done.add(h.name);
      } catch (err) {
        fail(h.name, err);
      }
      options.onHost?.(report);
    }),
  );
  const list = hosts.map((h) => reports.get(h.name)!);
  // Every host's list has ended (none is cut short): only now say what the interruption left.
  stopIfInterrupted();
  return {
    testbed: inv.testbed,
    dryRun: options.dryRun === true,
    reset: options.reset === true,
    changed: list.some((r) => r.changed),
    ok: list.every((r) => !r.error),
    hosts: list,
  };
}
