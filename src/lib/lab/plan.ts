/**
 * The local lab as data: from an inventory, every namespace, bridge, veth, address, route, sshd and
 * dockerd that `lab up` creates. Pure: the same inventory always gives the same plan, and tests read it.
 *
 * Layout (for testbed T):
 *   netns edgectl.T          the "wiring closet": bridge mgmt (management network) and bridge data (the switch)
 *   netns edgectl.T.HOST     one per host: mgmt0 on the management bridge; data0 on the switch (wired hosts);
 *                            on an AP a bridge radio0 (its radio side); on a mu host one r-BS per base station
 *   root netns               one veth (ecXXXXXX) into the management bridge, with the controller's address,
 *                            so that this machine reaches every host's sshd and nothing else changes here
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import {
  cidrContains,
  formatCidr,
  formatIpv4,
  type Host,
  type Inventory,
  type Ipv4Cidr,
  parseCidr,
  parseIpv4,
  serverHosts,
} from '../inventory/index.js';
import { parseCidrParts, prefixMask } from '../inventory/net.js';
import { shellQuote } from '../remote/quote.js';

/** Every lab address must lie in the range set aside for network benchmarking (RFC 2544). */
export const LAB_RANGE = '198.18.0.0/15';

export interface VethPlan {
  /** Namespace and name of the end that is created first. */
  ns: string;
  name: string;
  peerNs: string;
  peerName: string;
}

export interface AddressPlan {
  ns: string;
  dev: string;
  cidr: string;
}

export interface RoutePlan {
  ns: string;
  to: string;
  via: string;
}

export interface BridgePortPlan {
  ns: string;
  dev: string;
  bridge: string;
}

export interface LabHostPlan {
  name: string;
  role: Host['role'];
  ns: string;
  address: string;
  sshPort: number;
  runDir: string;
  sshdConfig: string;
  sshdPidFile: string;
  /** With a session delay (lab up --session-delay): every SSH session starts here, is logged, waits. */
  sessionScript: string;
  /** One line per SSH session of the host: `EPOCH_MS COMMAND` (only with a session delay). */
  sessionLog: string;
  hostKey: string;
  docker?: {
    socket: string;
    dataRoot: string;
    execRoot: string;
    pidFile: string;
    configFile: string;
    logFile: string;
    cgroupParent: string;
    bip: string;
  };
}

export interface LabPlan {
  testbed: string;
  /** Namespace of the management and data bridges. */
  hubNs: string;
  /** Prefix of every namespace of this lab (`edgectl.T.`), the hub excluded. */
  nsPrefix: string;
  /** Runtime files: sockets, pid files, configs, logs. Removed by `lab down`. */
  runDir: string;
  /**
   * What grants root on the lab's hosts: the keys their sshds accept and their host keys. Root's, 0700,
   * outside the checkout (whoever owns it need not be root), inside runDir (removed by `lab down`).
   */
  keysDir: string;
  /** Docker data roots (images survive `lab down`; `lab down --purge` removes them). */
  dataDir: string;
  controller: { ifname: string; hubIfname: string; cidr: string; address: string };
  managementSubnet: string;
  dataSubnet: string;
  bridges: { ns: string; name: string }[];
  veths: VethPlan[];
  bridgePorts: BridgePortPlan[];
  addresses: AddressPlan[];
  routes: RoutePlan[];
  hosts: LabHostPlan[];
  /** Every lab address, for the 198.18.0.0/15 check and for tests. */
  allAddresses: string[];
  authorizedKeys: string;
  /** This machine's edgectl as the lab's hosts run it (they share its files): a wrapper script. */
  edgectlBin: string;
}

export interface LabPaths {
  runRoot?: string;
  dataRoot?: string;
}

function shortHash(text: string, length = 6): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

function cidrOf(text: string, what: string): Ipv4Cidr {
  const cidr = parseCidr(text);
  if (!cidr) throw new UsageError(`lab: ${what} ${text} is not a network block`);
  return cidr;
}

function slash24(address: string): string {
  const value = parseIpv4(address) ?? 0;
  return formatCidr({ network: (value & 0xffffff00) >>> 0, prefix: 24 });
}

/** The mu host's interface towards a base station: `r-BS`, or `rN` when the name would pass 15 chars. */
export function radioIfName(bsName: string, index: number): string {
  const name = `r-${bsName}`;
  return name.length <= 15 ? name : `r${index}`;
}

/**
 * Checks lab addresses against 198.18.0.0/15 and returns the offenders. Takes plain addresses
 * ("198.18.0.1"), interface addresses ("198.18.0.1/24": the whole subnet must lie inside) and blocks.
 */
export function outsideLabRange(addresses: readonly string[]): string[] {
  const range = parseCidr(LAB_RANGE)!;
  return addresses.filter((a) => {
    const parts = a.includes('/') ? parseCidrParts(a) : { address: parseIpv4(a), prefix: 32 };
    if (!parts || parts.address === undefined) return true;
    const network = (parts.address & prefixMask(parts.prefix)) >>> 0;
    const last = network + 2 ** (32 - parts.prefix) - 1;
    return !cidrContains(range, network) || !cidrContains(range, last);
  });
}

export function planLab(inv: Inventory, paths: LabPaths = {}): LabPlan {
  const tb = inv.testbed;
  const hubNs = `edgectl.${tb}`;
  const nsPrefix = `${hubNs}.`;
  const runDir = join(paths.runRoot ?? '/run/edgectl', tb);
  const keysDir = join(runDir, 'keys');
  const dataDir = join(paths.dataRoot ?? '/var/lib/edgectl', tb);
  const first = inv.hosts[0];
  if (!first) throw new UsageError('lab: the inventory has no hosts');

  const managementSubnet = inv.lab?.managementSubnet ?? slash24(first.address);
  const mgmt = cidrOf(managementSubnet, 'managementSubnet');
  const controllerAddress = inv.lab?.controller ?? formatIpv4(mgmt.network + 1);
  const wired = inv.hosts.filter((h) => h.role !== 'mu');
  const firstServer = serverHosts(inv)[0] ?? wired[0] ?? first;
  const dataSubnet = inv.lab?.dataSubnet ?? slash24(firstServer.dataAddress);
  const data = cidrOf(dataSubnet, 'dataSubnet');
  const docker = cidrOf(inv.lab?.dockerSubnet ?? '198.19.0.0/16', 'dockerSubnet');

  const problems: string[] = [];
  const inBlock = (block: Ipv4Cidr, address: string) => cidrContains(block, parseIpv4(address) ?? -1);
  if (!inBlock(mgmt, controllerAddress))
    problems.push(`controller ${controllerAddress} is outside ${managementSubnet}`);
  for (const h of inv.hosts) {
    if (!inBlock(mgmt, h.address))
      problems.push(`${h.name}: address ${h.address} is outside ${managementSubnet}`);
    if (h.address === controllerAddress) problems.push(`${h.name}: address ${h.address} is the controller's`);
    if (h.role !== 'mu' && !inBlock(data, h.dataAddress)) {
      problems.push(`${h.name}: dataAddress ${h.dataAddress} is outside the data network ${dataSubnet}`);
    }
  }
  const muHosts = inv.hosts.filter((h) => h.role === 'mu');
  for (const bs of inv.basestations) {
    const radio = cidrOf(bs.radio.cidr, `${bs.name}.radioSubnet`);
    if (2 + muHosts.length > 2 ** (32 - radio.prefix) - 1) {
      problems.push(`${bs.name}: radioSubnet ${bs.radio.cidr} has no room for ${muHosts.length} mu hosts`);
    }
  }
  const servers = serverHosts(inv);
  if (servers.length > 2 ** (24 - docker.prefix)) {
    problems.push(`dockerSubnet ${formatCidr(docker)} has fewer /24 blocks than there are servers`);
  }

  const hostNs = (name: string) => `${nsPrefix}${name}`;
  const veths: VethPlan[] = [];
  const bridgePorts: BridgePortPlan[] = [];
  const addresses: AddressPlan[] = [];
  const routes: RoutePlan[] = [];
  const bridges = [
    { ns: hubNs, name: 'mgmt' },
    { ns: hubNs, name: 'data' },
  ];

  const controller = {
    ifname: `ec${shortHash(tb)}`,
    hubIfname: 'ctl',
    cidr: `${controllerAddress}/${mgmt.prefix}`,
    address: controllerAddress,
  };
  veths.push({ ns: '', name: controller.ifname, peerNs: hubNs, peerName: controller.hubIfname });
  bridgePorts.push({ ns: hubNs, dev: controller.hubIfname, bridge: 'mgmt' });
  addresses.push({ ns: '', dev: controller.ifname, cidr: controller.cidr });

  inv.hosts.forEach((h, i) => {
    const ns = hostNs(h.name);
    veths.push({ ns: hubNs, name: `m${i}`, peerNs: ns, peerName: 'mgmt0' });
    bridgePorts.push({ ns: hubNs, dev: `m${i}`, bridge: 'mgmt' });
    addresses.push({ ns, dev: 'mgmt0', cidr: `${h.address}/${mgmt.prefix}` });
    if (h.role !== 'mu') {
      veths.push({ ns: hubNs, name: `d${i}`, peerNs: ns, peerName: 'data0' });
      bridgePorts.push({ ns: hubNs, dev: `d${i}`, bridge: 'data' });
      addresses.push({ ns, dev: 'data0', cidr: `${h.dataAddress}/${data.prefix}` });
    }
  });

  inv.basestations.forEach((bs, b) => {
    const apNs = hostNs(bs.host);
    const radio = cidrOf(bs.radio.cidr, `${bs.name}.radioSubnet`);
    bridges.push({ ns: apNs, name: 'radio0' });
    addresses.push({ ns: apNs, dev: 'radio0', cidr: bs.radio.apCidr });
    muHosts.forEach((mu, k) => {
      const muIf = radioIfName(bs.name, b);
      const apPort = `rp${k}`;
      veths.push({ ns: apNs, name: apPort, peerNs: hostNs(mu.name), peerName: muIf });
      bridgePorts.push({ ns: apNs, dev: apPort, bridge: 'radio0' });
      addresses.push({
        ns: hostNs(mu.name),
        dev: muIf,
        cidr: `${formatIpv4(radio.network + 2 + k)}/${radio.prefix}`,
      });
    });
    // Like a lab network: every wired host reaches a radio subnet through its AP.
    const ap = inv.hosts.find((h) => h.name === bs.host);
    if (!ap) return;
    for (const h of wired) {
      if (h.name !== ap.name) routes.push({ ns: hostNs(h.name), to: bs.radio.cidr, via: ap.dataAddress });
    }
  });

  const hosts: LabHostPlan[] = inv.hosts.map((h) => {
    const ns = hostNs(h.name);
    const hostRun = join(runDir, h.name);
    const hostKey = join(keysDir, `ssh_host_ed25519_key.${h.name}`);
    const serverIndex = servers.findIndex((s) => s.name === h.name);
    const dockerPlan =
      serverIndex < 0
        ? undefined
        : {
            socket: join(hostRun, 'docker.sock'),
            dataRoot: join(dataDir, h.name, 'docker'),
            execRoot: join(hostRun, 'docker'),
            pidFile: join(hostRun, 'docker.pid'),
            configFile: join(hostRun, 'daemon.json'),
            logFile: join(hostRun, 'dockerd.log'),
            cgroupParent: `${ns}`,
            bip: `${formatIpv4(docker.network + serverIndex * 256 + 1)}/24`,
          };
    return {
      name: h.name,
      role: h.role,
      ns,
      address: h.address,
      sshPort: h.ssh.port,
      runDir: hostRun,
      sshdConfig: join(hostRun, 'sshd_config'),
      sshdPidFile: join(hostRun, 'sshd.pid'),
      sessionScript: join(hostRun, 'session.sh'),
      sessionLog: join(hostRun, 'sessions.log'),
      hostKey,
      ...(dockerPlan ? { docker: dockerPlan } : {}),
    };
  });

  const allAddresses = [
    ...addresses.map((a) => a.cidr),
    managementSubnet,
    dataSubnet,
    ...inv.basestations.map((b) => b.radio.cidr),
    ...hosts.flatMap((h) => (h.docker ? [h.docker.bip] : [])),
  ];
  const outside = outsideLabRange(allAddresses);
  if (outside.length > 0) {
    problems.push(`addresses outside ${LAB_RANGE} (the lab uses no other range): ${outside.join(', ')}`);
  }
  if (problems.length > 0) {
    throw new UsageError(`cannot build a lab from ${inv.file}:\n  ${problems.join('\n  ')}`, {
      hint: 'give every lab address a place inside 198.18.0.0/15 (see the lab: section of the example hosts.yml)',
    });
  }

  return {
    testbed: tb,
    hubNs,
    nsPrefix,
    runDir,
    keysDir,
    dataDir,
    controller,
    managementSubnet,
    dataSubnet,
    bridges,
    veths,
    bridgePorts,
    addresses,
    routes,
    hosts,
    allAddresses,
    authorizedKeys: join(keysDir, 'authorized_keys'),
    edgectlBin: join(runDir, 'edgectl'),
  };
}

/** The keys `provision` authorises on one lab host. */
export function provisionedKeys(plan: LabPlan, host: LabHostPlan): string {
  return `${plan.authorizedKeys}.provisioned.${host.name}`;
}

/** Every file the sshd of a lab host reads keys from, in its order. */
export function authorizedKeysFiles(plan: LabPlan, host: LabHostPlan): string[] {
  return [plan.authorizedKeys, provisionedKeys(plan, host)];
}

/**
 * With a session delay (meant for tests: every new SSH session then costs what a slow login shell costs
 * on real machines, conda or pyenv in ~/.bashrc), sshd runs this in the user's own login shell before the
 * session's command: it logs the session, waits, then runs the command in that same shell, as sshd would.
 * sshd's ForceCommand (this script) overrides the forced command of a key (`command=` in `keyFiles`, the
 * testbed key's receiver; a value without quotes inside): the script runs that one instead, found by the key sshd names in
 * $SSH_USER_AUTH (ExposeAuthInfo), so the lab's keys are as restricted as on a real host.
 */
export function sessionScript(host: LabHostPlan, delayMs: number, keyFiles: readonly string[] = []): string {
  const files = keyFiles.map((f) => shellQuote(f)).join(' ');
  return [
    `# edgectl lab: every SSH session of host ${host.name} (lab up --session-delay ${delayMs})`,
    `printf '%s %.300s\\n' "$(date +%s%3N)" "$(printf '%s' "\${SSH_ORIGINAL_COMMAND:-(login shell)}" | tr '\\n' ' ')" >>${host.sessionLog}`,
    `sleep ${(delayMs / 1000).toFixed(3)}`,
    `edgectl_key=$(sed -n 's/^publickey [^ ]* \\([^ ]*\\).*/\\1/p' "\${SSH_USER_AUTH:-/dev/null}" 2>/dev/null | tail -n 1)`,
    // The files through cat: awk would stop at the first that does not exist (no key provisioned yet).
    `edgectl_forced=$([ -z "$edgectl_key" ] || cat ${files || '/dev/null'} 2>/dev/null | k=$edgectl_key LC_ALL=C awk '{ for (i = 1; i < NF; i++) if ($i == ENVIRON["k"]) { if (match($0, /command="[^"]*"/)) print substr($0, RSTART + 9, RLENGTH - 10); exit } }')`,
    'if [ -n "$edgectl_forced" ]; then eval "$edgectl_forced"',
    'elif [ -z "$SSH_ORIGINAL_COMMAND" ]; then exec "$SHELL" -l',
    'else eval "$SSH_ORIGINAL_COMMAND"; fi',
    '',
  ].join('\n');
}

/** The sshd_config of one lab host (sessionDelayMs > 0: every session goes through sessionScript). */
export function sshdConfig(plan: LabPlan, host: LabHostPlan, sessionDelayMs = 0): string {
  // The hosts of a lab share this machine's files, root's home included: keys that provision authorises
  // (host-to-host trust) go to a file of the lab host's own (one per host, as on real machines), in the
  // lab's keys directory (root's alone, like every file sshd reads keys from: StrictModes), named to
  // sessions by EDGECTL_AUTHORIZED_KEYS;
  // EDGECTL_BIN is the edgectl commands run on this host (offload on the mu host) unless hosts.yml names one.
  const env = [
    `EDGECTL_LAB_HOST=${host.name}`,
    `EDGECTL_AUTHORIZED_KEYS=${provisionedKeys(plan, host)}`,
    `EDGECTL_BIN=${plan.edgectlBin}`,
    ...(host.docker ? [`DOCKER_HOST=unix://${host.docker.socket}`] : []),
  ];
  return [
    `# edgectl lab: sshd of host ${host.name} (netns ${host.ns})`,
    // Like a real host: on every address (management and data) of its own namespace.
    `Port ${host.sshPort}`,
    'ListenAddress 0.0.0.0',
    `HostKey ${host.hostKey}`,
    `AuthorizedKeysFile ${authorizedKeysFiles(plan, host).join(' ')}`,
    `PidFile ${host.sshdPidFile}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes yes',
    ...(sessionDelayMs > 0 ? ['ExposeAuthInfo yes'] : []),
    'MaxSessions 64',
    'MaxStartups 100:30:200',
    'LogLevel ERROR',
    `SetEnv ${env.join(' ')}`,
    ...(sessionDelayMs > 0 ? [`ForceCommand . ${host.sessionScript}`] : []),
    '',
  ].join('\n');
}

export function dockerDaemonConfig(): string {
  return `${JSON.stringify({ 'log-level': 'warn' }, null, 2)}\n`;
}
