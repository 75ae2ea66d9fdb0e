/**
 * Pure builders of the commands `lab up` and `lab down` run on this machine: argv arrays, and the
 * line lists fed to `ip -batch -` (one ip process per namespace and phase instead of hundreds).
 */
import type { LabHostPlan, LabPlan } from './plan.js';

/** Namespaces are files under /run/netns; nsenter joins one by path (not `ip netns exec`, which remounts /sys). */
export const netnsPath = (ns: string) => `/run/netns/${ns}`;

/** PATH for the lab's daemons: /usr/local/sbin first, where a private CRIU's wrapper lives. */
export const DAEMON_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `ip -batch -` in a namespace ('' = this machine's own). */
export function ipBatchArgv(ns: string): string[] {
  return ns === '' ? ['ip', '-batch', '-'] : ['ip', '-n', ns, '-batch', '-'];
}

export function inNetns(ns: string, argv: readonly string[]): string[] {
  return ns === '' ? [...argv] : ['nsenter', `--net=${netnsPath(ns)}`, ...argv];
}

/** Every namespace of the plan: the hub first, then the hosts in inventory order. */
export function labNamespaces(plan: LabPlan): string[] {
  return [plan.hubNs, ...plan.hosts.map((h) => h.ns)];
}

/** Phase 1 (run in this machine's namespace): create every namespace. */
export function createNamespacesBatch(plan: LabPlan): string[] {
  return labNamespaces(plan).map((ns) => `netns add ${ns}`);
}

/** Quiet namespaces: no IPv6 (no router solicitations or other chatter), loopback up. */
export function namespaceSysctlArgv(ns: string): string[] {
  return inNetns(ns, [
    'sysctl',
    '-q',
    '-w',
    'net.ipv6.conf.all.disable_ipv6=1',
    'net.ipv6.conf.default.disable_ipv6=1',
  ]);
}

/** Phase 2, per namespace: bridges and veth pairs created from that namespace. */
export function createLinksBatch(plan: LabPlan, ns: string): string[] {
  const lines: string[] = [];
  for (const b of plan.bridges.filter((x) => x.ns === ns)) lines.push(`link add ${b.name} type bridge`);
  for (const v of plan.veths.filter((x) => x.ns === ns)) {
    lines.push(`link add ${v.name} type veth peer name ${v.peerName} netns ${v.peerNs}`);
  }
  return lines;
}

/** Phase 3, per namespace: bridge ports, addresses, links up, then routes. */
export function configureBatch(plan: LabPlan, ns: string): string[] {
  const lines: string[] = [];
  if (ns !== '') lines.push('link set lo up');
  for (const b of plan.bridges.filter((x) => x.ns === ns)) lines.push(`link set ${b.name} up`);
  for (const p of plan.bridgePorts.filter((x) => x.ns === ns))
    lines.push(`link set ${p.dev} master ${p.bridge}`);
  const devs = new Set<string>();
  for (const v of plan.veths) {
    if (v.ns === ns) devs.add(v.name);
    if (v.peerNs === ns) devs.add(v.peerName);
  }
  for (const a of plan.addresses.filter((x) => x.ns === ns)) lines.push(`addr add ${a.cidr} dev ${a.dev}`);
  for (const dev of devs) lines.push(`link set ${dev} up`);
  for (const r of plan.routes.filter((x) => x.ns === ns)) lines.push(`route add ${r.to} via ${r.via}`);
  return lines;
}

/** Namespaces that take part in building (the root namespace '' holds the controller's veth end). */
export function buildNamespaces(plan: LabPlan): string[] {
  return ['', ...labNamespaces(plan)];
}

export function controllerSysctlArgv(plan: LabPlan): string[] {
  return ['sysctl', '-q', '-w', `net.ipv6.conf.${plan.controller.ifname}.disable_ipv6=1`];
}

/** sshd daemonises itself and writes its pid file. */
export function sshdArgv(host: LabHostPlan): string[] {
  return inNetns(host.ns, ['/usr/sbin/sshd', '-f', host.sshdConfig]);
}

/** dockerd in the host's namespace, detached (setsid -f), its output appended to its log file. */
export function dockerdArgv(host: LabHostPlan): string[] {
  const d = host.docker;
  if (!d) throw new Error(`${host.name} is not a server`);
  return [
    'setsid',
    '-f',
    'sh',
    '-c',
    'log=$1; shift; exec "$@" >>"$log" 2>&1 </dev/null',
    'dockerd-launch',
    d.logFile,
    ...inNetns(host.ns, [
      'env',
      `PATH=${DAEMON_PATH}`,
      'dockerd',
      '--config-file',
      d.configFile,
      '--data-root',
      d.dataRoot,
      '--exec-root',
      d.execRoot,
      '-H',
      `unix://${d.socket}`,
      '--pidfile',
      d.pidFile,
      '--experimental',
      '--cgroup-parent',
      d.cgroupParent,
      '--bip',
      d.bip,
      // Published ports by DNAT only, so that a service sees its clients' real (NATed) addresses.
      '--userland-proxy=false',
    ]),
  ];
}

export function keygenArgv(file: string, comment: string): string[] {
  return ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', file];
}
