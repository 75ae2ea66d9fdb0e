/**
 * Cross-reference checks over a hosts file that already matches the schema: unique names and
 * addresses, references to hosts/services/base stations that exist and have the right role, links
 * between distinct hosts at most once per pair, radio subnets that do not overlap, servers with a
 * capacity. Each problem is reported at the path of the offending node.
 */

import { DEFAULT_USER_PORT_BASE } from './model.js';
import {
  cidrBounds,
  cidrContains,
  cidrsOverlap,
  formatCidr,
  formatIpv4,
  type Ipv4Cidr,
  parseCidr,
  parseIpv4,
} from './net.js';
import type { InventoryFile } from './schema.js';

export type PathSegment = string | number;

export interface CheckIssue {
  path: PathSegment[];
  message: string;
}

/** Renders a path as `links[2].latency`. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

const quote = (value: string) => JSON.stringify(value);

function article(word: string): string {
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

/**
 * @param where renders the position of a path for a message ("line 12"), to point at the first of
 *   two clashing definitions.
 */
export function crossCheck(data: InventoryFile, where: (path: PathSegment[]) => string): CheckIssue[] {
  const issues: CheckIssue[] = [];
  const add = (path: PathSegment[], message: string) => issues.push({ path, message });
  const ref = (path: PathSegment[]) => `${formatPath(path)} (${where(path)})`;

  // Unique names per kind.
  const sections = [
    ['hosts', 'host'],
    ['basestations', 'base station'],
    ['users', 'user'],
    ['services', 'service'],
  ] as const;
  for (const [section, kind] of sections) {
    const first = new Map<string, number>();
    data[section].forEach((item, i) => {
      const seen = first.get(item.name);
      if (seen === undefined) {
        first.set(item.name, i);
      } else {
        add(
          [section, i, 'name'],
          `expected a unique ${kind} name, got ${quote(item.name)} again; the first is ${ref([section, seen, 'name'])}`,
        );
      }
    });
  }

  // Unique addresses across hosts (a host may use the same address for management and data).
  const owner = new Map<string, PathSegment[]>();
  data.hosts.forEach((host, i) => {
    const keys =
      host.dataAddress === undefined || host.dataAddress === host.address
        ? ['address']
        : ['address', 'dataAddress'];
    for (const key of keys) {
      const address = key === 'address' ? host.address : (host.dataAddress ?? host.address);
      const path: PathSegment[] = ['hosts', i, key];
      const previous = owner.get(address);
      if (previous === undefined) {
        owner.set(address, path);
      } else {
        const other = data.hosts[previous[1] as number]?.name ?? '?';
        add(
          path,
          `expected an address no other host uses, got ${quote(address)}, which host ${quote(other)} already has: ${ref(previous)}`,
        );
      }
    }
  });

  // Hosts by name (the first definition wins when names clash; that clash is reported above).
  const hostByName = new Map<string, InventoryFile['hosts'][number]>();
  for (const host of data.hosts) if (!hostByName.has(host.name)) hostByName.set(host.name, host);
  const namesWithRole = (roles: readonly string[]) =>
    [...hostByName.values()].filter((h) => roles.includes(h.role)).map((h) => h.name);
  const listOf = (names: string[]) => (names.length === 0 ? 'none is defined' : `one of ${names.join(', ')}`);

  /** Checks a reference to a host that must have one of `roles`. */
  const hostRef = (path: PathSegment[], name: string, roles: readonly string[], what: string) => {
    const host = hostByName.get(name);
    if (host === undefined) {
      add(
        path,
        `expected the name of ${what} (${listOf(namesWithRole(roles))}), got ${quote(name)} which is not a host`,
      );
    } else if (!roles.includes(host.role)) {
      add(
        path,
        `expected the name of ${what} (${listOf(namesWithRole(roles))}), got ${quote(name)} which is ${article(host.role)} host`,
      );
    }
  };

  // Servers need a capacity for placement.
  data.hosts.forEach((host, i) => {
    if ((host.role === 'cloud' || host.role === 'edge') && host.capacity === undefined) {
      add(
        ['hosts', i, 'capacity'],
        `expected a capacity { cpus, memMB } for ${article(host.role)} host (servers need one for placement), got nothing`,
      );
    }
  });

  // Base stations: ap host, optional server, radio subnets apart from each other and from host addresses.
  const subnets: { cidr: Ipv4Cidr; path: PathSegment[] }[] = [];
  data.basestations.forEach((bs, i) => {
    hostRef(['basestations', i, 'host'], bs.host, ['ap'], 'a host with role ap');
    if (bs.server !== undefined) {
      hostRef(
        ['basestations', i, 'server'],
        bs.server,
        ['cloud', 'edge'],
        'a server, a host with role cloud or edge',
      );
    }
    const cidr = parseCidr(bs.radioSubnet);
    if (cidr === undefined) return;
    const path: PathSegment[] = ['basestations', i, 'radioSubnet'];
    const clash = subnets.find((other) => cidrsOverlap(other.cidr, cidr));
    if (clash) {
      add(
        path,
        `expected a radio subnet that overlaps no other, got ${quote(bs.radioSubnet)}, which overlaps ${quote(formatCidr(clash.cidr))}: ${ref(clash.path)}`,
      );
    } else {
      subnets.push({ cidr, path });
    }
  });
  data.hosts.forEach((host, i) => {
    for (const key of ['address', 'dataAddress'] as const) {
      const text = host[key];
      const address = text === undefined ? undefined : parseIpv4(text);
      if (text === undefined || address === undefined) continue;
      const subnet = subnets.find((s) => cidrContains(s.cidr, address));
      if (subnet) {
        add(
          ['hosts', i, key],
          `expected an address outside the radio subnets (edgectl assigns those), got ${quote(text)}, which is inside ${quote(formatCidr(subnet.cidr))}: ${ref(subnet.path)}`,
        );
      }
    }
  });

  // The users' own addresses: a block of their own, large enough for every user.
  const userBlock = parseCidr(data.userSubnet);
  if (userBlock) {
    const clash = subnets.find((sn) => cidrsOverlap(sn.cidr, userBlock));
    const hostInside = data.hosts.findIndex((h) =>
      [h.address, h.dataAddress].some((a) => a !== undefined && cidrContains(userBlock, parseIpv4(a) ?? -1)),
    );
    const room = 2 ** (32 - userBlock.prefix) - 11;
    if (clash) {
      add(
        ['userSubnet'],
        `expected a block that overlaps no radio subnet, got ${quote(data.userSubnet)}, which overlaps ${quote(formatCidr(clash.cidr))}: ${ref(clash.path)}`,
      );
    } else if (hostInside >= 0) {
      add(
        ['userSubnet'],
        `expected a block that holds no host address, got ${quote(data.userSubnet)}, which holds ${ref(['hosts', hostInside])}`,
      );
    } else {
      // Each user's address: its own (inside the block, no other user's) or the default 10 + k.
      const [first, last] = cidrBounds(userBlock);
      const taken = new Map<number, number>();
      data.users.forEach((user, i) => {
        if (user.address === undefined && i >= room) {
          add(
            ['users', i],
            `expected room in userSubnet ${quote(data.userSubnet)} for this user's default address (user k gets address 10 + k), got none; give it an address or take a larger userSubnet`,
          );
          return;
        }
        const address = user.address === undefined ? userBlock.network + 10 + i : parseIpv4(user.address);
        if (address === undefined) return;
        const path: PathSegment[] = user.address === undefined ? ['users', i] : ['users', i, 'address'];
        if (user.address !== undefined && (address <= first || address >= last)) {
          add(
            path,
            `expected a host address inside userSubnet ${quote(data.userSubnet)}, got ${quote(user.address)}`,
          );
          return;
        }
        const other = taken.get(address);
        if (other !== undefined) {
          add(
            path,
            `expected an address no other user has, got ${formatIpv4(address)}${user.address === undefined ? " (this user's default)" : ''}, which ${ref(['users', other])} has too${data.users[other]?.address === undefined ? ' (its default: userSubnet address 10 + its place)' : ''}`,
          );
        } else {
          taken.set(address, i);
        }
      });
    }
  }

  // Each user's host port (its service's, the same on every server): no two users share one.
  const ports = new Map<number, number>();
  data.users.forEach((user, i) => {
    const port = user.port ?? DEFAULT_USER_PORT_BASE + i;
    const other = ports.get(port);
    if (other === undefined) {
      ports.set(port, i);
      return;
    }
    add(
      user.port === undefined ? ['users', i] : ['users', i, 'port'],
      `expected a host port no other user has, got ${port}${user.port === undefined ? " (this user's default)" : ''}, which ${ref(['users', other])} has too${data.users[other]?.port === undefined ? ` (its default: ${DEFAULT_USER_PORT_BASE} + its place)` : ''}`,
    );
  });

  // Links: known, distinct hosts; one link per pair.
  const pairs = new Map<string, number>();
  data.links.forEach((link, i) => {
    const [a, b] = link.between;
    let known = true;
    link.between.forEach((name, j) => {
      if (!hostByName.has(name)) {
        known = false;
        add(
          ['links', i, 'between', j],
          `expected the name of a host (${listOf(hostByName.size === 0 ? [] : [...hostByName.keys()])}), got ${quote(name)}`,
        );
      }
    });
    if (a === b) {
      add(['links', i, 'between'], `expected two different hosts, got ${quote(a)} twice`);
      return;
    }
    if (!known) return;
    const key = [a, b].sort().join('\u0000');
    const first = pairs.get(key);
    if (first === undefined) {
      pairs.set(key, i);
    } else {
      add(
        ['links', i, 'between'],
        `expected at most one link between ${a} and ${b}, got a second one; the first is ${ref(['links', first, 'between'])}`,
      );
    }
  });

  // Users: an mu host, a known service, a known start base station.
  const serviceNames = [...new Set(data.services.map((s) => s.name))];
  const basestationNames = [...new Set(data.basestations.map((bs) => bs.name))];
  data.users.forEach((user, i) => {
    hostRef(['users', i, 'host'], user.host, ['mu'], 'a host with role mu');
    if (!serviceNames.includes(user.service)) {
      add(
        ['users', i, 'service'],
        `expected the name of a service (${listOf(serviceNames)}), got ${quote(user.service)}`,
      );
    }
    if (user.startBasestation !== undefined && !basestationNames.includes(user.startBasestation)) {
      add(
        ['users', i, 'startBasestation'],
        `expected the name of a base station (${listOf(basestationNames)}), got ${quote(user.startBasestation)}`,
      );
    }
  });

  return issues;
}
