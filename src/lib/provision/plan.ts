/**
 * The units of every host, from the inventory and a few facts read from the host (its interfaces and
 * whether its kernel has netem). Pure, so that the commands for a testbed can be snapshot-tested.
 *
 * - wired hosts (cloud, edge, ap): on the data interface, an HTB class per peer at the bandwidth of the
 *   route to it (bottleneck of its links), traffic classified by destination address; the route's
 *   one-way latency either as a netem delay under each class (where the kernel has netem), or on
 *   arrival: a mangle PREROUTING rule per peer into a queue that edgectl-delay serves (see
 *   netem/nfqueue.ts);
 * - APs: forwarding on, NAT (masquerade) of the radio side and of the users' addresses onto the wired
 *   network, a route back to the users' addresses, a per-user downlink cap on the radio side;
 * - mu hosts: each user's own address, a routing table per base station (default route via that AP),
 *   a fwmark rule per table, and one MARK rule per user choosing the table (a handover replaces that one
 *   rule in place: atomic); rp_filter off on the radio side; a per-user uplink cap per radio interface;
 * - servers: the testbed's key pair, its public half authorised for one command only (the receiver of
 *   migration data, installed beside it) from the servers' data addresses, known_hosts of every server's
 *   data address, so that one server can push checkpoint data straight to another.
 */
import { join } from 'node:path';
import { EdgectlError, ExitCode } from '../errors.js';
import {
  type Basestation,
  cidrContains,
  type Host,
  type Inventory,
  parseCidr,
  parseIpv4,
  route,
  serverHosts,
  type User,
} from '../inventory/index.js';
import { receiverPath, receiverScript, stagingRoot } from '../migration/commands.js';
import {
  ADDR_LABEL,
  flushTableArgv,
  fromRuleArgv,
  fwmarkRuleArgv,
  type InterfaceAddress,
  labelledAddrArgv,
  ownRules,
  parseAddrs,
  parseRoutes,
  parseRules,
  protoRouteArgv,
  readAddrsArgv,
  readProtoRoutesArgv,
  readRulesArgv,
  readTableRoutesArgv,
  ruleDelArgv,
  TABLE_BASE,
  tableDefaultArgv,
  USERS_RULE_PREF,
} from '../netem/ip.js';
import {
  type ChainSpec,
  chainApplyArgv,
  chainIsCurrent,
  chainResetArgv,
  parseChain,
  type RuleSpec,
  readTableArgv,
} from '../netem/iptables.js';
import {
  chainQueues,
  type DelayPlan,
  delayChain,
  delayPlan,
  type HelperFiles,
  helperFiles,
  helperIsCurrent,
  type LatencyMethod,
  parseHelperState,
  readHelperArgv,
  startHelperArgv,
  stopHelperArgv,
} from '../netem/nfqueue.js';
import {
  parseTree,
  ROOT_HANDLE,
  readClassesArgv,
  readFiltersArgv,
  readQdiscsArgv,
  type ShapedFlow,
  type ShapingSpec,
  sameTree,
  shapingArgv,
  unshapeArgv,
  wantedTree,
} from '../netem/tc.js';
import { knownHostsName } from '../remote/known-hosts.js';
import {
  authorizedKeyLine,
  legacyKeyMarker,
  probeKeyArgv,
  testbedKeyMarker,
  writeKeyArgv,
} from './authorized-keys.js';
import { cmd, sha256, sysctlUnit, type Unit, writeFileCmd } from './units.js';

/** Until the mobility model sets it from the RSSI: the top 802.11n rate (HT40, two streams). */
export const DEFAULT_RADIO_RATE_BPS = 300_000_000;

export type { LatencyMethod } from '../netem/nfqueue.js';

export interface HostFacts {
  addrs: InterfaceAddress[];
  /** Whether tc can attach netem on this host (probed); null where not probed. */
  netem: boolean | null;
  /** Whether edgectl-delay can serve queues on this host (probed); null where not probed. */
  nfqueue: boolean | null;
  /** The method chosen for this host; null: its links' latency is not emulated (or it has none). */
  latency: LatencyMethod | null;
}

/** What every host's trust units need: the testbed key pair and each server's host key. */
export interface TrustMaterial {
  privateKey: string;
  publicKey: string;
  /** known_hosts lines for every server's data address. */
  knownHosts: string;
}

export class ProvisionPlanError extends EdgectlError {
  constructor(message: string, hint?: string) {
    super('PROVISION_PLAN', ExitCode.remote, message, hint ? { hint } : {});
  }
}

export const AP_NAT_CHAIN = 'EDGECTL-NAT';
export const AP_FORWARD_CHAIN = 'EDGECTL-FWD';
export const MU_MARK_CHAIN = 'EDGECTL-MU';

export function stateDirOnHost(inv: Inventory): string {
  return `/var/lib/edgectl/provision/${inv.testbed}`;
}

export function trustDirOnHost(inv: Inventory): string {
  return `/etc/edgectl/${inv.testbed}`;
}

/** The routing table (and fwmark) of base station number `index` on a mu host. */
export function basestationTable(index: number): number {
  return TABLE_BASE + 1 + index;
}

export function devWithAddress(facts: HostFacts, host: string, address: string, what: string): string {
  const found = facts.addrs.find((a) => a.address === address);
  if (!found) {
    throw new ProvisionPlanError(
      `${host}: no interface holds ${what} ${address}`,
      `give ${host} its address ${address} (for the local lab: edgectl lab up), or fix hosts.yml`,
    );
  }
  return found.dev;
}

/** The mu host's address on a base station's radio subnet (the interface it holds it on). */
export function radioSide(facts: HostFacts, host: Host, bs: Basestation): InterfaceAddress {
  const block = parseCidr(bs.radio.cidr)!;
  const found = facts.addrs.find(
    (a) =>
      a.address !== bs.radio.apAddress &&
      cidrContains(block, parseIpv4(a.address) ?? -1) &&
      a.label !== ADDR_LABEL,
  );
  if (!found)
    throw new ProvisionPlanError(
      `${host.name}: no interface on the radio subnet ${bs.radio.cidr} of ${bs.name}`,
    );
  return found;
}

/** The flows a wired host shapes: one per other wired host it has a route to. */
export function wiredFlows(inv: Inventory, host: Host): ShapedFlow[] {
  const flows: ShapedFlow[] = [];
  for (const peer of inv.hosts) {
    if (peer.name === host.name || peer.role === 'mu') continue;
    const r = route(inv, host.name, peer.name);
    if (!r) continue;
    flows.push({
      label: peer.name,
      match: 'dst',
      cidr: `${peer.dataAddress}/32`,
      rateBps: r.bandwidthBps,
      delayMs: r.latencyMs,
    });
  }
  return flows;
}

function shapingUnit(id: string, spec: ShapingSpec): Unit {
  return {
    id,
    probes: [readQdiscsArgv(spec.dev), readClassesArgv(spec.dev), readFiltersArgv(spec.dev)],
    decide([qdiscs = '', classes = '', filters = '']) {
      const live = parseTree(qdiscs, classes, filters);
      const ours = live.root?.handle === ROOT_HANDLE;
      if (live.root && !ours && live.root.handle !== '0:') {
        throw new ProvisionPlanError(
          `${spec.dev} has a root qdisc of somebody else's (${live.root.kind} ${live.root.handle}); edgectl will not replace it`,
          `remove it (tc qdisc del dev ${spec.dev} root) if it is not needed`,
        );
      }
      const current = ours && sameTree(live, wantedTree(spec));
      return {
        current,
        apply: [...(ours ? [cmd(unshapeArgv(spec.dev))] : []), ...shapingArgv(spec).map((a) => cmd(a))],
        reset: ours ? [cmd(unshapeArgv(spec.dev))] : [],
      };
    },
  };
}

function chainUnit(id: string, spec: ChainSpec, keep?: (live: string) => ChainSpec): Unit {
  return {
    id,
    probes: [readTableArgv(spec.table)],
    decide([dump = '']) {
      const live = parseChain(dump, spec);
      const wanted = keep ? keep(dump) : spec;
      return {
        current: chainIsCurrent(spec, live),
        apply: chainApplyArgv(wanted, live).map((a) => cmd(a)),
        reset: chainResetArgv(spec, live).map((a) => cmd(a)),
      };
    },
  };
}

/** A chain that may be wanted empty: then it is wanted gone, jump and all. */
function optionalChainUnit(id: string, spec: ChainSpec): Unit {
  if (spec.rules.length > 0) return chainUnit(id, spec);
  return {
    id,
    probes: [readTableArgv(spec.table)],
    decide([dump = '']) {
      const gone = chainResetArgv(spec, parseChain(dump, spec)).map((a) => cmd(a));
      return { current: gone.length === 0, apply: gone, reset: gone };
    },
  };
}

/**
 * edgectl-delay and its rules. Always planned on a wired host, so that a host provisioned with the helper
 * before gets rid of it when it no longer needs it (netem chosen, or no latency).
 */
function delayUnits(plan: DelayPlan, files: HelperFiles): Unit[] {
  const wanted = plan.specs.length > 0;
  return [
    {
      id: 'delay helper',
      probes: [readHelperArgv(files), readTableArgv('mangle')],
      decide([out = '', mangle = '']) {
        const live = parseHelperState(out);
        const current = wanted ? helperIsCurrent(plan, files, live) : !live.pidfile;
        // Rules from an earlier run in place, and no helper: packets have been passing undelayed.
        const notes =
          wanted && live.argv.length === 0 && chainQueues(mangle).length > 0
            ? [
                'edgectl-delay was not running: packets from its peers passed without their delay; started again',
              ]
            : [];
        return {
          current,
          apply: [
            ...(live.pidfile ? [cmd(stopHelperArgv(files))] : []),
            ...(wanted ? [cmd(startHelperArgv(plan, files))] : []),
          ],
          reset: live.pidfile ? [cmd(stopHelperArgv(files, true))] : [],
          notes,
        };
      },
    },
    optionalChainUnit('delay rules', delayChain(plan)),
  ];
}

function wiredUnits(inv: Inventory, host: Host, facts: HostFacts): Unit[] {
  const dev = devWithAddress(facts, host.name, host.dataAddress, 'its data address');
  const flows = wiredFlows(inv, host);
  // Each peer's packets are delayed on arrival by the one-way latency of the route from it (the same as to it).
  const delays = delayPlan(dev, facts.latency === 'nfqueue' ? flows : []);
  return [
    shapingUnit(`shape ${dev}`, { dev, flows, netem: facts.latency === 'netem' }),
    ...delayUnits(delays, helperFiles(inv.testbed, host.name)),
  ];
}

function muHostOf(inv: Inventory): Host[] {
  return inv.hosts.filter((h) => h.role === 'mu');
}

function apUnits(inv: Inventory, host: Host, facts: HostFacts, muFacts: Map<string, HostFacts>): Unit[] {
  const units: Unit[] = [];
  const dataDev = devWithAddress(facts, host.name, host.dataAddress, 'its data address');
  const stations = inv.basestations.filter((b) => b.host === host.name);
  units.push(
    sysctlUnit('forwarding', join(stateDirOnHost(inv), `${host.name}.sysctl.json`), {
      'net.ipv4.ip_forward': '1',
    }),
  );
  const natRules: RuleSpec[] = [];
  const fwdRules: RuleSpec[] = [];
  for (const bs of stations) {
    const radioDev = devWithAddress(facts, host.name, bs.radio.apAddress, `the radio address of ${bs.name}`);
    natRules.push({
      name: `radio-${bs.name}`,
      args: ['-s', bs.radio.cidr, '-o', dataDev, '-j', 'MASQUERADE'],
    });
    fwdRules.push({ name: `from-${bs.name}`, args: ['-i', radioDev, '-j', 'ACCEPT'] });
    fwdRules.push({
      name: `to-${bs.name}`,
      args: ['-o', radioDev, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
    });
  }
  // The users' own addresses reach the wired network through whichever AP they are on: one rule per AP,
  // not one per base station (they would all be the same rule). A chain provisioned by an older edgectl
  // with a `users-BS` rule as well no longer matches the wanted tags, so the next run refills it.
  natRules.push({ name: 'users', args: ['-s', inv.userSubnet, '-o', dataDev, '-j', 'MASQUERADE'] });
  units.push(chainUnit('nat', { table: 'nat', chain: AP_NAT_CHAIN, hook: 'POSTROUTING', rules: natRules }));
  units.push(
    chainUnit('forward', { table: 'filter', chain: AP_FORWARD_CHAIN, hook: 'FORWARD', rules: fwdRules }),
  );

  // The users' addresses live on the mu host: reach them through its radio address.
  const routes: { dst: string; via: string; dev: string }[] = [];
  for (const bs of stations) {
    const radioDev = devWithAddress(facts, host.name, bs.radio.apAddress, `the radio address of ${bs.name}`);
    for (const mu of muHostOf(inv)) {
      const users = inv.users.filter((u) => u.host === mu.name);
      const mf = muFacts.get(mu.name);
      if (users.length === 0 || !mf) continue;
      const via = radioSide(mf, mu, bs).address;
      for (const u of users) routes.push({ dst: `${u.address}/32`, via, dev: radioDev });
    }
    const flows: ShapedFlow[] = inv.users
      .filter((u) => muHostOf(inv).some((m) => m.name === u.host))
      .map((u) => ({
        label: u.name,
        match: 'dst',
        cidr: `${u.address}/32`,
        rateBps: DEFAULT_RADIO_RATE_BPS,
        delayMs: 0,
      }));
    units.push(shapingUnit(`shape ${radioDev}`, { dev: radioDev, flows, netem: false }));
  }
  units.push(protoRoutesUnit('user routes', routes));
  return units;
}

function protoRoutesUnit(id: string, wanted: { dst: string; via: string; dev: string }[]): Unit {
  const key = (r: { dst: string; via?: string; dev?: string }) => `${r.dst} ${r.via} ${r.dev}`;
  return {
    id,
    probes: [readProtoRoutesArgv()],
    decide([json = '']) {
      const live = parseRoutes(json).map((r) => ({
        dst: r.dst.includes('/') ? r.dst : `${r.dst}/32`,
        via: r.gateway ?? '',
        dev: r.dev ?? '',
      }));
      const liveKeys = new Set(live.map(key));
      const wantedKeys = new Set(wanted.map(key));
      const stale = live.filter((r) => !wantedKeys.has(key(r)));
      const missing = wanted.filter((r) => !liveKeys.has(key(r)));
      return {
        current: stale.length === 0 && missing.length === 0,
        apply: [
          ...stale.map((r) => cmd(protoRouteArgv('del', r.dst, r.via, r.dev))),
          ...missing.map((r) => cmd(protoRouteArgv('replace', r.dst, r.via, r.dev))),
        ],
        reset: live.map((r) => cmd(protoRouteArgv('del', r.dst, r.via, r.dev))),
      };
    },
  };
}

/** The table of the base station a user starts on (or the first). */
export function startTable(inv: Inventory, user: User): number {
  const i = user.startBasestation ? inv.basestations.findIndex((b) => b.name === user.startBasestation) : 0;
  return basestationTable(Math.max(0, i));
}

/** The MARK rule that sends a user's traffic through the base station with routing table `table`. */
export function userMarkRule(user: Pick<User, 'name' | 'address'>, table: number): RuleSpec {
  const base = userRuleTagBase(user);
  return {
    name: base.name,
    args: ['-s', `${user.address}/32`, '-j', 'MARK', '--set-xmark', `0x${table.toString(16)}/0xffffffff`],
    tagArgs: base.args,
  };
}

/** A user's MARK rule compares by user, not by the base station it points at (a handover changes that). */
function userRuleTagBase(user: Pick<User, 'name' | 'address'>): RuleSpec {
  return { name: `user-${user.name}`, args: ['-s', `${user.address}/32`, '-j', 'MARK'] };
}

/** The mark (= routing table) a user's MARK rule sets, read from its `iptables -S` text. */
export function markOfUserRule(rule: string): number | undefined {
  const mark = /--set-xmark (0x[0-9a-f]+)\//.exec(rule)?.[1];
  return mark === undefined ? undefined : Number(mark);
}

function muUnits(inv: Inventory, host: Host, facts: HostFacts): Unit[] {
  const units: Unit[] = [];
  const users = inv.users.filter((u) => u.host === host.name);
  const sides = inv.basestations.map((bs) => ({ bs, side: radioSide(facts, host, bs) }));
  units.push(
    sysctlUnit('rp_filter', join(stateDirOnHost(inv), `${host.name}.sysctl.json`), {
      'net.ipv4.conf.all.rp_filter': '0',
      ...Object.fromEntries(sides.map(({ side }) => [`net.ipv4.conf.${side.dev}.rp_filter`, '0'])),
    }),
  );
  units.push({
    id: 'user addresses',
    probes: [readAddrsArgv()],
    decide([json = '']) {
      const live = parseAddrs(json)
        .filter((a) => a.label === ADDR_LABEL)
        .map((a) => a.address);
      const wanted = users.map((u) => u.address);
      const stale = live.filter((a) => !wanted.includes(a));
      const missing = wanted.filter((a) => !live.includes(a));
      return {
        current: stale.length === 0 && missing.length === 0,
        apply: [
          ...stale.map((a) => cmd(labelledAddrArgv('del', a))),
          ...missing.map((a) => cmd(labelledAddrArgv('add', a))),
        ],
        reset: live.map((a) => cmd(labelledAddrArgv('del', a))),
      };
    },
  });
  sides.forEach(({ bs, side }, i) => {
    const table = basestationTable(i);
    units.push({
      id: `table ${table} (${bs.name})`,
      probes: [readTableRoutesArgv(table)],
      decide([json = '']) {
        const live = parseRoutes(json);
        const current =
          live.length === 1 &&
          live[0]?.dst === 'default' &&
          live[0].gateway === bs.radio.apAddress &&
          live[0].dev === side.dev;
        return {
          current,
          apply: [
            ...(live.length > 0 ? [cmd(flushTableArgv(table))] : []),
            cmd(tableDefaultArgv(table, bs.radio.apAddress, side.dev)),
          ],
          reset: live.length > 0 ? [cmd(flushTableArgv(table))] : [],
        };
      },
    });
  });
  const tables = sides.map((_, i) => basestationTable(i));
  // A socket's first route lookup happens before its packets are marked: this rule lets that lookup
  // succeed for the users' addresses (the mark then picks the table of the user's base station).
  const fallback = { priority: USERS_RULE_PREF, src: inv.userSubnet, table: tables[0] };
  units.push({
    id: 'policy rules',
    probes: [readRulesArgv()],
    decide([json = '']) {
      const own = ownRules(parseRules(json));
      const markOk = (t: number) =>
        own.some((r) => r.priority === t && r.table === String(t) && Number(r.fwmark) === t);
      const fallbackOk =
        fallback.table === undefined ||
        own.some(
          (r) =>
            r.priority === fallback.priority &&
            r.table === String(fallback.table) &&
            `${r.src}/${r.srclen}` === fallback.src,
        );
      const current =
        own.length === tables.length + (fallback.table === undefined ? 0 : 1) &&
        tables.every(markOk) &&
        fallbackOk;
      return {
        current,
        apply: [
          ...own.map((r) => cmd(ruleDelArgv(r.priority))),
          ...tables.map((t) => cmd(fwmarkRuleArgv(t))),
          ...(fallback.table === undefined
            ? []
            : [cmd(fromRuleArgv(fallback.src, fallback.table, fallback.priority))]),
        ],
        reset: own.map((r) => cmd(ruleDelArgv(r.priority))),
      };
    },
  });
  const markSpec: ChainSpec = {
    table: 'mangle',
    chain: MU_MARK_CHAIN,
    hook: 'OUTPUT',
    rules: users.map(userRuleTagBase),
  };
  units.push(
    chainUnit('user marks', markSpec, (dump) => {
      // Keep each user on the base station it is on now (a handover moved it); new users start on theirs.
      const liveRules = parseChain(dump, markSpec).rules;
      return {
        ...markSpec,
        rules: users.map((u) => {
          const now = liveRules.find((r) => r.startsWith(`-s ${u.address}/32 `));
          const mark = markOfUserRule(now ?? '');
          const table = mark !== undefined && tables.includes(mark) ? mark : startTable(inv, u);
          return {
            ...userMarkRule(u, table),
            name: userRuleTagBase(u).name,
            args: userMarkRule(u, table).args,
          };
        }),
      };
    }),
  );
  for (const { side } of sides) {
    const flows: ShapedFlow[] = users.map((u) => ({
      label: u.name,
      match: 'src',
      cidr: `${u.address}/32`,
      rateBps: DEFAULT_RADIO_RATE_BPS,
      delayMs: 0,
    }));
    units.push(shapingUnit(`shape ${side.dev}`, { dev: side.dev, flows, netem: false }));
  }
  return units;
}

/** known_hosts lines for every server's data address, from each server's verified host key. */
export function serverKnownHosts(inv: Inventory, hostKeys: Map<string, string>): string {
  return serverHosts(inv)
    .map((s) => {
      const key = hostKeys.get(s.name);
      if (!key)
        throw new ProvisionPlanError(
          `the host key of ${s.name} is not known`,
          'run edgectl hosts check first',
        );
      return `${knownHostsName(s.dataAddress, s.ssh.port)} ${key}`;
    })
    .join('\n')
    .concat('\n');
}

/**
 * The testbed's receiver on a server (see receiverScript): written beside it and renamed over it, root's
 * and 0755, in a directory tree that only root can write to (checked up to /: whoever could replace the
 * file could run anything as the key's user). Removed by a reset only when it is edgectl's.
 */
function receiverUnit(inv: Inventory): Unit {
  const path = receiverPath(inv.testbed);
  const script = receiverScript(stagingRoot(inv.testbed));
  const header = script.split('\n').slice(0, 2).join('\n');
  const install = [
    'set -eu',
    'p=$1; umask 022',
    'mkdir -p "$(dirname "$p")"',
    'x=$(readlink -f -- "$(dirname "$p")")',
    'while :; do',
    '  s=$(stat -c "%u %a" "$x")',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansions
    '  [ "${s%% *}" = 0 ] && [ $((0${s#* } & 022)) = 0 ] || { echo "$x is not root\'s alone (owner and mode: $s): no forced command is installed under it" >&2; exit 1; }',
    '  [ "$x" != / ] || break',
    '  x=$(dirname "$x")',
    'done',
    't=$(mktemp "$p.XXXXXX")',
    'cat >"$t" && chown 0:0 "$t" && chmod 755 "$t" && mv -f "$t" "$p" || { rm -f "$t"; exit 1; }',
  ].join('\n');
  return {
    id: 'receiver',
    probes: [
      [
        'sh',
        '-c',
        'stat -c "%u %a" "$1" 2>/dev/null || echo none; echo ---; cat "$1" 2>/dev/null',
        'receiver',
        path,
      ],
    ],
    decide([out = '']) {
      const at = out.indexOf('\n---\n');
      const meta = at < 0 ? '' : out.slice(0, at);
      const text = at < 0 ? '' : out.slice(at + 5);
      return {
        current: meta === '0 755' && text === script,
        apply: [cmd(['sh', '-c', install, 'receiver', path], script)],
        reset: text.startsWith(header)
          ? [cmd(['sh', '-c', 'rm -f "$1"; rmdir "$(dirname "$1")" 2>/dev/null; true', 'receiver', path])]
          : [],
      };
    },
  };
}

export function trustUnits(inv: Inventory, trust: TrustMaterial): Unit[] {
  const dir = trustDirOnHost(inv);
  const keyFile = `${dir}/id_ed25519`;
  const khFile = `${dir}/known_hosts`;
  const marker = testbedKeyMarker(inv.testbed);
  const legacy = legacyKeyMarker(inv.testbed);
  // A reset has no key material: it removes by marker.
  const line = trust.publicKey.trim()
    ? authorizedKeyLine({
        publicKey: trust.publicKey,
        from: [...new Set(serverHosts(inv).map((s) => s.dataAddress))],
        command: receiverPath(inv.testbed),
        marker,
      })
    : '';
  return [
    {
      id: 'testbed key',
      probes: [
        ['sh', '-c', 'cat "$1" 2>/dev/null; echo; echo ---; cat "$2" 2>/dev/null', 'trust', keyFile, khFile],
      ],
      decide([out = '']) {
        const [key = '', kh = ''] = out.split('\n---\n');
        const current =
          sha256(key.replace(/\n$/, '')) === sha256(trust.privateKey.replace(/\n$/, '')) &&
          kh === trust.knownHosts;
        return {
          current,
          apply: [writeFileCmd(keyFile, trust.privateKey), writeFileCmd(khFile, trust.knownHosts)],
          reset: key.trim() || kh.trim() ? [cmd(['rm', '-rf', dir])] : [],
        };
      },
    },
    // Before the key that is forced to run it.
    receiverUnit(inv),
    {
      id: 'authorized key',
      probes: [probeKeyArgv(line, marker, legacy)],
      decide([out = '']) {
        const [exact = 0, count = 0] = out
          .trim()
          .split(/\s+/)
          .map((n) => Number(n || '0'));
        return {
          current: exact === 1 && count === 1,
          apply: [cmd(writeKeyArgv(line, marker, legacy))],
          reset: count > 0 ? [cmd(writeKeyArgv('', marker, legacy))] : [],
        };
      },
    },
  ];
}

export interface PlanContext {
  /** Facts of every mu host (the APs route the users' addresses to them). */
  muFacts: Map<string, HostFacts>;
  trust?: TrustMaterial;
}

export function hostUnits(inv: Inventory, host: Host, facts: HostFacts, ctx: PlanContext): Unit[] {
  switch (host.role) {
    case 'cloud':
    case 'edge':
      return [...wiredUnits(inv, host, facts), ...(ctx.trust ? trustUnits(inv, ctx.trust) : [])];
    case 'ap':
      return [...wiredUnits(inv, host, facts), ...apUnits(inv, host, facts, ctx.muFacts)];
    case 'mu':
      return muUnits(inv, host, facts);
  }
}
