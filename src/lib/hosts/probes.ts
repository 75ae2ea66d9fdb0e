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

export const probeArgv = {
  identity: () => ['sh', '-c', 'id -u; uname -r', 'probe'],
  docker: () => ['docker', 'version', '--format', '{{json .}}'],
  criuVersion: () => ['criu', '--version'],
  criuCheck: () => ['criu', 'check'],
  runcConf: () => ['sh', '-c', 'cat /etc/criu/runc.conf 2>/dev/null || true'],
  tc: (ifname: string) => ['sh', '-c', TC_PROBE_SCRIPT, 'probe', ifname],
  iptables: () => ['iptables', '--version'],
  iptablesUsable: () => ['iptables', '-S', 'INPUT'],
  rsync: () => ['rsync', '--version'],
  xdelta3: () => ['xdelta3', '-V'],
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
export function parseToolVersion(text: string): string | undefined {
  return /\bv?(\d+\.\d+(?:\.\d+)?[a-z0-9.~+-]*)/i.exec(text)?.[1];
}
