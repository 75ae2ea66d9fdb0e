import { errorMessage } from '../errors.js';
import type { Host, Inventory, Role } from '../inventory/index.js';
import { pagesSourceVersion } from '../migration/pages-source.js';
import { chooseLatency, type LatencyMethod } from '../netem/nfqueue.js';
import { delaySourceVersion } from '../netem/nfqueue-source.js';
import {
  HostUnreachableError,
  ShellExecutor,
  SshKeyError,
  type SshPool,
  type UnreachableReason,
} from '../remote/index.js';
import type { Executor, RunResult } from '../remote/types.js';
import {
  type DockerFacts,
  delayUnusable,
  missingRuncOptions,
  NODE_MIN_MAJOR,
  netemUnusable,
  type PagesFacts,
  pagesProbe,
  parseCriuVersion,
  parseDelayProbe,
  parseDockerVersion,
  parseEdgectlVersion,
  parseIputilsVersion,
  parseNodeVersion,
  parseTcProbe,
  parseToolVersion,
  probeArgv,
  probeInterfaceName,
  type TcFacts,
} from './probes.js';

export interface ToolFacts {
  ok: boolean;
  version?: string;
}

export interface HostReport {
  name: string;
  role: Role;
  address: string;
  reachable: boolean;
  ssh: { ok: boolean; ms?: number; reason?: UnreachableReason; error?: string; hint?: string };
  kernel?: string;
  root?: boolean;
  /** null where the role does not need it and it was not probed. */
  docker: (DockerFacts & { ok: boolean }) | null;
  criu: { ok: boolean; version?: string } | null;
  htb: boolean | null;
  netem: boolean | null;
  /** Wired hosts: how their links' latency can be emulated, and the state of edgectl-delay. */
  latency: LatencyReport | null;
  iptables: ToolFacts | null;
  rsync: ToolFacts | null;
  xdelta3: ToolFacts | null;
  /**
   * Servers: edgectl-pages, the page codec of `migrate --codec pages`; `current`: built from this edgectl's
   * own source. Missing or outdated: a warning (migrate's other codecs do not need it).
   */
  pages: PagesFacts | null;
  /** Wired hosts: iputils ping, the monitor's link probe (missing: a warning, the monitor cannot probe from here). */
  ping: ToolFacts | null;
  /** mu hosts: the node and the edgectl that `offload` and the migration probe run there. */
  node: ToolFacts | null;
  edgectl: ToolFacts | null;
  /** Servers: the CPU benchmark score C_s (iterations per second), stored in the state database. */
  cpuScore?: number | null;
  ready: boolean;
  /** Why the host is not ready for its role. */
  errors: string[];
  /** What works but limits the testbed (e.g. no netem: latency cannot be emulated). */
  warnings: string[];
}

export interface LatencyReport {
  /** What `provision --latency auto` applies here: netem where the kernel has it, else edgectl-delay. */
  method: LatencyMethod | null;
  netem: boolean;
  /** edgectl-delay installed, able to serve a queue here, NFQUEUE rules accepted. */
  nfqueue: boolean;
  /** The installed edgectl-delay; `current`: built from this edgectl's own source. */
  helper: { ok: boolean; version?: string; current: boolean };
  /** Provisioned with edgectl-delay: whether it serves every queue its rules send to; null: not provisioned so. */
  running: boolean | null;
}

export interface ChecksReport {
  testbed: string;
  ready: boolean;
  hosts: HostReport[];
}

type Need = 'root' | 'docker' | 'criu' | 'tc' | 'latency' | 'iptables' | 'rsync' | 'xdelta3' | 'edgectl';

/** What each role must have to be ready. */
export const ROLE_NEEDS: Record<Role, readonly Need[]> = {
  cloud: ['root', 'docker', 'criu', 'tc', 'latency', 'iptables', 'rsync', 'xdelta3'],
  edge: ['root', 'docker', 'criu', 'tc', 'latency', 'iptables', 'rsync', 'xdelta3'],
  ap: ['root', 'tc', 'latency', 'iptables'],
  mu: ['root', 'tc', 'iptables', 'edgectl'],
};

function firstLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .find((l) => l.trim() !== '') ?? ''
  );
}

function failure(what: string, r: RunResult): string {
  if (r.code === 127) return `${what} is not installed`;
  return `${what} failed (exit ${r.code}): ${firstLine(r.stderr) || firstLine(r.stdout)}`;
}

/** The versions this edgectl's own sources of the C helpers build (scripts/install-host-deps.sh builds the same). */
export interface HelperVersions {
  delay: string;
  pages: string;
}

async function helperVersions(): Promise<HelperVersions> {
  const [delay, pages] = await Promise.all([delaySourceVersion(), pagesSourceVersion()]);
  return { delay, pages };
}

/** Probes one reachable host; never throws for a failing probe, it becomes an error line. */
async function probeHost(
  exec: Executor,
  host: Host,
  report: HostReport,
  versions: HelperVersions,
): Promise<void> {
  const delayVersion = versions.delay;
  const needs = new Set(ROLE_NEEDS[host.role]);
  const errors = report.errors;
  const run = (argv: readonly string[]) => exec.run(argv, { timeoutMs: 30_000 });

  const identity = run(probeArgv.identity()).then((r) => {
    const [uid, kernel] = r.stdout.trim().split('\n');
    report.root = uid === '0';
    if (kernel) report.kernel = kernel;
    if (!report.root && needs.has('root')) {
      errors.push(
        `commands run as uid ${uid}, not root: edgectl needs root on ${host.role} hosts (ssh.user root, or ssh.sudo: true with passwordless sudo)`,
      );
    }
  });

  const docker = needs.has('docker')
    ? run(probeArgv.docker()).then((r) => {
        let facts: DockerFacts = { experimental: false };
        try {
          facts = parseDockerVersion(r.stdout);
        } catch {
          // not JSON: docker missing or broken; the exit code and stderr say why
        }
        const ok = r.code === 0 && facts.version !== undefined && facts.experimental;
        report.docker = { ...facts, ok };
        if (r.code !== 0 || facts.version === undefined) errors.push(failure('docker', r));
        else if (!facts.experimental) {
          errors.push(`docker ${facts.version} runs without experimental mode: checkpoints need it`);
        }
      })
    : undefined;

  const criu = needs.has('criu')
    ? run(probeArgv.criuVersion()).then(async (v) => {
        const version = v.code === 0 ? parseCriuVersion(v.stdout) : undefined;
        if (!version) {
          report.criu = { ok: false };
          errors.push(failure('criu --version', v));
          return;
        }
        const [check, conf] = await Promise.all([run(probeArgv.criuCheck()), run(probeArgv.runcConf())]);
        const missing = missingRuncOptions(conf.stdout);
        report.criu = { ok: check.code === 0 && missing.length === 0, version };
        if (check.code !== 0) errors.push(`criu ${version}: ${failure('criu check', check)}`);
        if (missing.length > 0)
          errors.push(
            `/etc/criu/runc.conf lacks ${missing.join(', ')}: checkpoints of a service with TCP connections fail without it (scripts/install-host-deps.sh, or provision --install-deps, adds it)`,
          );
      })
    : undefined;

  const tc = needs.has('tc')
    ? run(probeArgv.tc(probeInterfaceName())).then((r) => {
        let facts: TcFacts;
        if (r.code !== 0)
          facts = { probed: false, htb: false, netem: false, reasons: [failure('tc probe', r)] };
        else facts = parseTcProbe(r.stdout);
        report.htb = facts.htb;
        report.netem = facts.netem;
        if (!facts.probed || !facts.htb)
          errors.push(...facts.reasons.filter((x) => !x.startsWith('tc netem')));
        return facts;
      })
    : undefined;

  // Latency: netem, else edgectl-delay; neither is an error (bandwidth is still shaped), but it is said.
  const latency = needs.has('latency')
    ? Promise.all([tc, run(probeArgv.delay())]).then(([t, r]) => {
        const d = parseDelayProbe(r.stdout);
        const noNetem = t ? netemUnusable(t) : ['tc not probed'];
        const noDelay = delayUnusable(d, r.code);
        const [netem, nfqueue] = [noNetem.length === 0, noDelay.length === 0];
        const current = d.helper.version === delayVersion;
        report.latency = {
          method: chooseLatency('auto', netem, nfqueue),
          netem,
          nfqueue,
          helper: { ...d.helper, current },
          running: d.running,
        };
        if (!netem && !nfqueue) {
          report.warnings.push(
            `link latency cannot be emulated there, only bandwidth: ${[...noNetem, ...noDelay].join('; ')} (scripts/install-host-deps.sh, or provision --install-deps, installs edgectl-delay)`,
          );
        }
        if (d.helper.ok && !current)
          report.warnings.push(
            `edgectl-delay ${d.helper.version ?? '(no version)'} was built from another source than this edgectl's (${delayVersion}): run edgectl provision --install-deps`,
          );
        if (d.running === false)
          report.warnings.push(
            `edgectl-delay is not running: the rules send packets from its peers to queues ${d.chainQueues.filter((q) => !d.bound.includes(q)).join(', ')} that nothing serves, so they pass WITHOUT their delay (edgectl provision starts it again)`,
          );
      })
    : undefined;

  // Not a readiness need: only migrate's pages codec runs it.
  const pages = host.isServer
    ? run(probeArgv.pages()).then((r) => {
        const { facts, warning } = pagesProbe(r, versions.pages);
        report.pages = facts;
        if (warning) report.warnings.push(warning);
      })
    : undefined;

  const tool = (need: 'iptables' | 'rsync' | 'xdelta3', argv: readonly string[]) =>
    needs.has(need)
      ? run(argv).then((r) => {
          const version = parseToolVersion(r.stdout + r.stderr);
          report[need] = { ok: r.code === 0, ...(version ? { version } : {}) };
          if (r.code !== 0) errors.push(failure(need, r));
        })
      : undefined;

  const iptables = tool('iptables', probeArgv.iptables())?.then(async () => {
    if (!report.iptables?.ok) return;
    const usable = await run(probeArgv.iptablesUsable());
    if (usable.code !== 0) {
      report.iptables.ok = false;
      errors.push(failure('iptables -S', usable));
    }
  });

  const edgectl = needs.has('edgectl')
    ? run(probeArgv.node()).then(async (n) => {
        const node = n.code === 0 ? parseNodeVersion(n.stdout) : undefined;
        report.node = { ok: node?.ok === true, ...(node ? { version: node.version } : {}) };
        if (!node) errors.push(failure('node --version', n));
        else if (!node.ok)
          errors.push(
            `node ${node.version} is too old: edgectl needs node >= ${NODE_MIN_MAJOR} (scripts/install-host-deps.sh --role mu says how)`,
          );
        const e = await run(probeArgv.edgectl(host.edgectlPath));
        const found = e.code === 0 ? parseEdgectlVersion(e.stdout) : undefined;
        report.edgectl = { ok: found !== undefined, ...(found ? { version: found.version } : {}) };
        if (!found)
          errors.push(
            `${failure(`edgectl (${host.edgectlPath ?? '$EDGECTL_BIN or edgectl on PATH'})`, e)}: offload and the migration probe run it here (set hosts[].edgectlPath, or scripts/install-host-deps.sh --role mu)`,
          );
      })
    : undefined;

  // Not a readiness need: without it only the monitor's link probes from this host fail.
  const ping =
    host.role === 'mu'
      ? undefined
      : run(probeArgv.ping()).then((r) => {
          const version = parseIputilsVersion(r.stdout + r.stderr);
          report.ping = { ok: version !== undefined, ...(version ? { version } : {}) };
          if (!version)
            report.warnings.push(
              `no iputils ping (ping -U) here: edgectl monitor cannot measure the round trips from this host (edgectl provision --install-deps installs iputils-ping)`,
            );
        });

  await Promise.all([
    ping,
    pages,
    identity,
    edgectl,
    docker,
    criu,
    tc,
    latency,
    iptables,
    tool('rsync', probeArgv.rsync()),
    tool('xdelta3', probeArgv.xdelta3()),
  ]);
}

export async function checkHost(pool: SshPool, host: Host, versions?: HelperVersions): Promise<HostReport> {
  const report: HostReport = {
    name: host.name,
    role: host.role,
    address: host.address,
    reachable: false,
    ssh: { ok: false },
    docker: null,
    criu: null,
    htb: null,
    netem: null,
    latency: null,
    iptables: null,
    rsync: null,
    xdelta3: null,
    pages: null,
    ping: null,
    node: null,
    edgectl: null,
    ready: false,
    errors: [],
    warnings: [],
  };
  const started = performance.now();
  try {
    await pool.connect(host);
    report.reachable = true;
    report.ssh = { ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    // A key file that cannot be used is the same problem for every host that names it: one error for
    // the command (exit 3), not one line per host.
    if (err instanceof SshKeyError) throw err;
    if (err instanceof HostUnreachableError) {
      report.ssh = {
        ok: false,
        reason: err.reason,
        error: err.message,
        ...(err.hint ? { hint: err.hint } : {}),
      };
    } else {
      report.ssh = { ok: false, reason: 'error', error: errorMessage(err) };
    }
    report.errors.push(report.ssh.error ?? 'unreachable');
    return report;
  }
  // Every probe runs through one persistent shell: one new session on the host, whatever its login
  // shell costs (the probes' time limits start once that shell answered).
  const shell = new ShellExecutor(pool, host);
  try {
    await shell.open();
    await probeHost(shell, host, report, versions ?? (await helperVersions()));
  } catch (err) {
    report.errors.push(`probe failed: ${errorMessage(err)}`);
  } finally {
    await shell.close();
  }
  report.ready = report.errors.length === 0;
  return report;
}

export interface CheckOptions {
  /** Only these hosts (names); all when empty. */
  only?: readonly string[];
  onHost?: (report: HostReport) => void;
}

/** Checks every host of the inventory at once. */
export async function checkHosts(
  inv: Inventory,
  pool: SshPool,
  options: CheckOptions = {},
): Promise<ChecksReport> {
  const hosts = options.only?.length ? inv.hosts.filter((h) => options.only?.includes(h.name)) : inv.hosts;
  const versions = await helperVersions();
  const reports = await Promise.all(
    hosts.map(async (host) => {
      const report = await checkHost(pool, host, versions);
      options.onHost?.(report);
      return report;
    }),
  );
  return { testbed: inv.testbed, ready: reports.every((r) => r.ready), hosts: reports };
}
