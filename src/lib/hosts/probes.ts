import { PAGES_BIN } from '../migration/pages-source.js';
import { DELAY_BIN, DELAY_CHAIN, PROBE_QUEUE } from '../netem/nfqueue.js';

/**
 * What `hosts check` asks each host, as pure argv builders and pure parsers of the answers, so that both
 * can be tested without a host.
 */

/**
 * Creates a throw-away interface (dummy where the kernel has it, else a veth pair, else ifb), tries an
 * HTB and a netem qdisc on it, and always removes it.
 */
const TC_PROBE_SCRIPT = [
  'd=$1',
  'if ! err=$(ip link add "$d" type dummy 2>&1) && ! ip link add "$d" type veth peer name "$d"p >/dev/null 2>&1 && ! ip link add "$d" type ifb >/dev/null 2>&1; then echo "dummy:no:$err"; exit 0; fi',
  'trap \'ip link del "$d" 2>/dev/null\' EXIT',
  'ip link set "$d" up',
  'if err=$(tc qdisc add dev "$d" root handle 1: htb default 1 2>&1); then echo htb:yes; tc qdisc del dev "$d" root; else echo "htb:no:$err"; fi',
  'if err=$(tc qdisc add dev "$d" root handle 1: netem delay 1ms 2>&1); then echo netem:yes; else echo "netem:no:$err"; fi',
].join('\n');

/**
 * Whether the host can delay packets with edgectl-delay: the helper's version, a queue bound and
 * configured for a moment (`--check`), the NFQUEUE target accepted in a throw-away chain; and, for a
 * provisioned host, the queues its EDGECTL-DELAY rules send to against those a program serves.
 */
const DELAY_PROBE_SCRIPT = [
  'v=$("$1" --version 2>&1); rc=$?',
  'if [ $rc -eq 0 ]; then echo "helper:yes:$v"; else echo "helper:no:$rc:$v"; fi',
  'if [ $rc -eq 0 ]; then if e=$("$1" --check "$2:0" 2>&1); then echo queue:yes; else echo "queue:no:$e" | head -n 1; fi; fi',
  'c=EDGECTL-PROBE-$$',
  'if e=$(iptables -w -t mangle -N "$c" 2>&1); then',
  '  if e=$(iptables -w -t mangle -A "$c" -j NFQUEUE --queue-num "$2" --queue-bypass 2>&1); then echo target:yes; else echo "target:no:$e" | head -n 1; fi',
  '  iptables -w -t mangle -F "$c"; iptables -w -t mangle -X "$c"',
  'else echo "target:no:$e" | head -n 1; fi',
  `echo "chain:$(iptables -w -t mangle -S ${DELAY_CHAIN} 2>/dev/null | sed -n 's/.*--queue-num \\([0-9]*\\).*/\\1/p' | sort -u | tr '\\n' ' ')"`,
  `echo "bound:$(awk '{print $1}' /proc/net/netfilter/nfnetlink_queue 2>/dev/null | tr '\\n' ' ')"`,
].join('\n');

export const probeArgv = {
  identity: () => ['sh', '-c', 'id -u; uname -r', 'probe'],
  docker: () => ['docker', 'version', '--format', '{{json .}}'],
  criuVersion: () => ['criu', '--version'],
  criuCheck: () => ['criu', 'check'],
  runcConf: () => ['sh', '-c', 'cat /etc/criu/runc.conf 2>/dev/null || true'],
  tc: (ifname: string) => ['sh', '-c', TC_PROBE_SCRIPT, 'probe', ifname],
  delay: () => ['sh', '-c', DELAY_PROBE_SCRIPT, 'probe', DELAY_BIN, String(PROBE_QUEUE)],
  /** edgectl-pages, the page codec of `migrate --codec pages`, where install-host-deps.sh puts it on servers. */
  pages: () => [PAGES_BIN, '--version'],
  iptables: () => ['iptables', '--version'],
  iptablesUsable: () => ['iptables', '-S', 'INPUT'],
  rsync: () => ['rsync', '--version'],
  xdelta3: () => ['xdelta3', '-V'],
  /** iputils ping, the monitor's link probe (`ping -U`; busybox's ping has no -U): `ping from iputils 20221126`. */
  ping: () => ['ping', '-V'],
  /** The node that runs edgectl on a mu host (`edgectl mu offload`, the migration probe). */
  node: () => ['node', '--version'],
  /**
   * The edgectl the controller runs on a mu host, found as `remoteEdgectlArgv` finds it: hosts.yml's
   * `edgectlPath` (`path`), else `$EDGECTL_BIN` on the host, else `edgectl` on its PATH.
   */
  edgectl: (path: string | undefined) =>
    path
      ? [path, '--version']
      : // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, for the remote shell
        ['sh', '-c', 'exec "${EDGECTL_BIN:-edgectl}" "$@"', 'edgectl', '--version'],
} as const;

/** The oldest node edgectl runs on (package.json engines; scripts/install-host-deps.sh says the same). */
export const NODE_MIN_MAJOR = 20;

export interface NodeFacts {
  version: string;
  major: number;
  /** At least NODE_MIN_MAJOR. */
  ok: boolean;
}

/** Parses `node --version` (`v20.20.2`); undefined when that is not what it printed. */
export function parseNodeVersion(stdout: string): NodeFacts | undefined {
  const m = /^v(\d+)\.(\d+)\.(\d+)\S*$/.exec(stdout.trim());
  if (!m?.[1]) return undefined;
  const major = Number(m[1]);
  return { version: stdout.trim().slice(1), major, ok: major >= NODE_MIN_MAJOR };
}

export interface EdgectlFacts {
  version: string;
  /** The node it runs on, as it reports it. */
  node?: string;
}

/**
 * Parses `edgectl --version` (oclif: `edgectl/0.1.0 linux-x64 node-v20.20.2`); undefined when what ran
 * is not an edgectl (a shell's "not found", another program's banner).
 */
export function parseEdgectlVersion(stdout: string): EdgectlFacts | undefined {
  const m = /^edgectl\/(\S+)(?:\s+\S+)?(?:\s+node-v(\S+))?\s*$/.exec(stdout.trim());
  if (!m?.[1]) return undefined;
  return { version: m[1], ...(m[2] ? { node: m[2] } : {}) };
}

/** A name for the throw-away interface that two concurrent checks will not share (<= 14 chars: a veth
 * peer gets a "p" appended). */
export function probeInterfaceName(random: () => number = Math.random): string {
  return `edgepr${Math.floor(random() * 0x1000000)
    .toString(16)
    .padStart(6, '0')}`;
}

export interface DockerFacts {
  client?: string;
  version?: string;
  apiVersion?: string;
  experimental: boolean;
}

/** Parses `docker version --format '{{json .}}'`; the Server part is missing when the daemon is down. */
export function parseDockerVersion(stdout: string): DockerFacts {
  const json = JSON.parse(stdout) as {
    Client?: { Version?: string };
    Server?: { Version?: string; ApiVersion?: string; Experimental?: boolean } | null;
  };
  const server = json.Server ?? undefined;
  return {
    ...(json.Client?.Version ? { client: json.Client.Version } : {}),
    ...(server?.Version ? { version: server.Version } : {}),
    ...(server?.ApiVersion ? { apiVersion: server.ApiVersion } : {}),
    experimental: server?.Experimental === true,
  };
}

/** `Version: 4.2` (CRIU prints its version on stdout, sometimes with a GitID line). */
export function parseCriuVersion(stdout: string): string | undefined {
  return /Version:\s*(\S+)/.exec(stdout)?.[1];
}

/** The CRIU options runc must pass on every checkpoint (scripts/install-host-deps.sh writes them). */
export const REQUIRED_RUNC_OPTIONS = ['tcp-close', 'skip-in-flight'] as const;

/** The options of /etc/criu/runc.conf that are missing (comments and blank lines ignored). */
export function missingRuncOptions(conf: string): string[] {
  const have = new Set(
    conf
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter(Boolean),
  );
  return REQUIRED_RUNC_OPTIONS.filter((o) => !have.has(o) && !have.has(`--${o}`));
}

export interface TcFacts {
  /** Whether the probe could create its dummy interface (no: no root, or no dummy module). */
  probed: boolean;
  htb: boolean;
  netem: boolean;
  /** The kernel's or tc's own words where something failed. */
  reasons: string[];
}

export function parseTcProbe(stdout: string): TcFacts {
  const facts: TcFacts = { probed: true, htb: false, netem: false, reasons: [] };
  for (const line of stdout.split('\n')) {
    const [what, verdict, ...rest] = line.split(':');
    const reason = rest.join(':').trim();
    if (what === 'dummy' && verdict === 'no') {
      facts.probed = false;
      facts.reasons.push(`cannot create a dummy interface to probe tc: ${reason}`);
    } else if (what === 'htb' || what === 'netem') {
      facts[what] = verdict === 'yes';
      if (verdict === 'no') facts.reasons.push(`tc ${what}: ${reason}`);
    }
  }
  return facts;
}

/** The first version-looking token of a tool's banner (`rsync  version 3.2.7  protocol ...`). */
/** The version of an iputils ping from `ping -V`, undefined for another ping (busybox's has no -U). */
export function parseIputilsVersion(text: string): string | undefined {
  return /\biputils[- ]?s?(\d+)/i.exec(text)?.[1];
}

export function parseToolVersion(text: string): string | undefined {
  return /\bv?(\d+\.\d+(?:\.\d+)?[a-z0-9.~+-]*)/i.exec(text)?.[1];
}

export interface DelayFacts {
  /** edgectl-delay is installed and runs (`--version`). */
  helper: { ok: boolean; version?: string };
  /** It could bind and configure a queue here, and iptables accepted an NFQUEUE rule. */
  nfqueue: boolean;
  /** The queues the provisioned EDGECTL-DELAY rules send to (none: not provisioned with nfqueue). */
  chainQueues: number[];
  /** The queues some program serves in this network namespace. */
  bound: number[];
  /** Whether every queue the rules send to is served; null where no rule sends to one. */
  running: boolean | null;
  /** The helper's, the kernel's or iptables' own words where something failed. */
  reasons: string[];
}

const numbers = (text: string) =>
  text
    .trim()
    .split(/\s+/)
    .filter((w) => /^\d+$/.test(w))
    .map(Number);

export function parseDelayProbe(stdout: string): DelayFacts {
  const facts: DelayFacts = {
    helper: { ok: false },
    nfqueue: false,
    chainQueues: [],
    bound: [],
    running: null,
    reasons: [],
  };
  let queue = false;
  let target = false;
  for (const line of stdout.split('\n')) {
    const [what = '', verdict = '', ...rest] = line.split(':');
    const reason = rest.join(':').trim();
    if (what === 'helper') {
      if (verdict === 'yes') {
        const version = /^edgectl-delay (\S+)/.exec(reason)?.[1];
        facts.helper = { ok: true, ...(version ? { version } : {}) };
      } else {
        const [code = '', ...said] = rest;
        facts.reasons.push(
          code === '127'
            ? 'edgectl-delay is not installed'
            : `edgectl-delay --version failed (exit ${code}): ${said.join(':').trim()}`,
        );
      }
    } else if (what === 'queue') {
      queue = verdict === 'yes';
      if (!queue) facts.reasons.push(`edgectl-delay cannot serve a queue here: ${reason}`);
    } else if (what === 'target') {
      target = verdict === 'yes';
      if (!target) facts.reasons.push(`iptables refused an NFQUEUE rule: ${reason}`);
    } else if (what === 'chain') facts.chainQueues = numbers(line.slice(6));
    else if (what === 'bound') facts.bound = numbers(line.slice(6));
  }
  facts.nfqueue = facts.helper.ok && queue && target;
  if (facts.chainQueues.length > 0) facts.running = facts.chainQueues.every((q) => facts.bound.includes(q));
  return facts;
}

export interface PagesFacts {
  /** edgectl-pages is installed and runs (`--version`). */
  ok: boolean;
  version?: string;
  /** Built from this edgectl's own source (native/edgectl-pages.c). */
  current: boolean;
}

/** Parses `edgectl-pages --version` (`edgectl-pages 0123456789ab`); undefined for anything else. */
export function parsePagesVersion(stdout: string): string | undefined {
  return /^edgectl-pages (\S+)\s*$/.exec(stdout.trim())?.[1];
}

const PAGES_HINT =
  'the pages codec of migrate needs it, its other codecs do not: run edgectl provision --install-deps';

/**
 * What `edgectl-pages --version` (exit code and output) says about the page codec on a server, against the
 * version this edgectl's source builds (`want`); a warning where it is missing, broken or outdated.
 */
export function pagesProbe(
  r: { code: number; stdout: string; stderr: string },
  want: string,
): { facts: PagesFacts; warning?: string } {
  const version = r.code === 0 ? parsePagesVersion(r.stdout) : undefined;
  if (version === undefined) {
    const said = (r.stderr.trim() || r.stdout.trim()).split('\n')[0] ?? '';
    const why =
      r.code === 127
        ? 'edgectl-pages is not installed'
        : r.code === 0
          ? `edgectl-pages --version printed no version (${said || 'nothing'})`
          : `edgectl-pages --version failed (exit ${r.code})${said ? `: ${said}` : ''}`;
    return { facts: { ok: false, current: false }, warning: `${why} (${PAGES_BIN}): ${PAGES_HINT}` };
  }
  const current = version === want;
  return {
    facts: { ok: true, version, current },
    ...(current
      ? {}
      : {
          warning: `edgectl-pages ${version} was built from another source than this edgectl's (${want}): ${PAGES_HINT}`,
        }),
  };
}

/** Why tc cannot delay packets with netem here, in tc's own words; empty where it can. */
export function netemUnusable(t: TcFacts, code = 0): string[] {
  if (code === 0 && t.netem) return [];
  const said = t.reasons.find((r) => r.startsWith('tc netem'))?.replace(/^tc netem: /, 'no tc netem: ');
  return [said ?? t.reasons[0] ?? `the tc probe failed (exit ${code})`];
}

/** Why edgectl-delay cannot delay packets here, in its, the kernel's or iptables' words; empty where it can. */
export function delayUnusable(d: DelayFacts, code = 0): string[] {
  if (code === 0 && d.nfqueue) return [];
  return d.reasons.length > 0 ? d.reasons : [`the edgectl-delay probe failed (exit ${code})`];
}
