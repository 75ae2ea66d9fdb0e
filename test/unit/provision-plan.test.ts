import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { getUser, type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { receiverPath, receiverScript, stagingRoot } from '../../src/lib/migration/commands.js';
import { findUserRule, switchUserArgv } from '../../src/lib/provision/paths.js';
import {
  type HostFacts,
  hostUnits,
  type LatencyMethod,
  type TrustMaterial,
  trustUnits,
} from '../../src/lib/provision/plan.js';
import { describeCmd } from '../../src/lib/provision/provision.js';
import { sysctlUnit } from '../../src/lib/provision/units.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let inv: Inventory;

/** The interfaces `lab up` gives each host of the repository's hosts.yml. */
function labFacts(latency: LatencyMethod | null): Map<string, HostFacts> {
  const facts = new Map<string, HostFacts>();
  for (const h of inv.hosts) {
    const addrs = [{ dev: 'mgmt0', address: h.address, prefix: 24 }];
    if (h.role !== 'mu') addrs.push({ dev: 'data0', address: h.dataAddress, prefix: 24 });
    for (const bs of inv.basestations) {
      if (bs.host === h.name) addrs.push({ dev: 'radio0', address: bs.radio.apAddress, prefix: 24 });
      if (h.role === 'mu') addrs.push({ dev: `r-${bs.name}`, address: bs.radio.userAddress, prefix: 24 });
    }
    const wired = h.role !== 'mu';
    facts.set(h.name, {
      addrs,
      netem: wired ? latency === 'netem' : null,
      nfqueue: wired ? latency === 'nfqueue' : null,
      latency: wired ? latency : null,
    });
  }
  return facts;
}

const trust: TrustMaterial = {
  privateKey: '-----BEGIN OPENSSH PRIVATE KEY-----\n(test)\n-----END OPENSSH PRIVATE KEY-----\n',
  publicKey: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITEST edgectl-testbed-paper-fig3\n',
  knownHosts: '198.18.1.10 ssh-ed25519 AAAA\n',
};

/** The commands provisioning runs on hosts where nothing of it exists yet. */
function firstRunCommands(latency: LatencyMethod | null): string {
  const facts = labFacts(latency);
  const muFacts = new Map([...facts].filter(([n]) => n === 'mu'));
  const out: string[] = [];
  for (const h of inv.hosts) {
    out.push(`## ${h.name} (${h.role})`);
    for (const unit of hostUnits(inv, h, facts.get(h.name)!, { muFacts, trust })) {
      const verdict = unit.decide(unit.probes.map(() => ''));
      out.push(`# ${unit.id}${verdict.current ? ' (current)' : ''}`);
      for (const c of verdict.apply) out.push(describeCmd(c));
    }
  }
  return `${out.join('\n')}\n`;
}

beforeAll(async () => {
  inv = await loadInventory(path.join(ROOT, 'hosts.yml'));
});

describe('provision commands for the repository hosts.yml', () => {
  it('with neither netem nor edgectl-delay: bandwidth only', () => {
    const text = firstRunCommands(null);
    expect(text).not.toContain('netem');
    expect(text).not.toContain('NFQUEUE');
    expect(text).not.toContain('edgectl-delay');
  });

  it('with edgectl-delay (this machine): a queue per distinct delay on arrival, one helper per host', async () => {
    const text = firstRunCommands('nfqueue');
    expect(text).not.toContain('netem');
    const edge1 = /## edge1[\s\S]*?(?=## edge2)/.exec(text)?.[0] ?? '';
    // Its peers by one-way latency: ap1 1 ms, edge2 50, ap2 51, edge3 100, ap3 101, cloud 150.
    expect(edge1).toContain(
      'edgectl-delay --daemon --pidfile /run/edgectl/delay/paper-fig3/edge1.pid --log /run/edgectl/delay/paper-fig3/edge1.log 60400:1000 60401:50000 60402:51000 60403:100000 60404:101000 60405:150000',
    );
    expect(edge1).toMatch(
      /-A EDGECTL-DELAY -i data0 -s 198\.18\.1\.10\/32 -j NFQUEUE --queue-num 60405 --queue-bypass/,
    );
    expect(edge1).toMatch(
      /-A EDGECTL-DELAY -i data0 -s 198\.18\.1\.13\/32 -j NFQUEUE --queue-num 60403 --queue-bypass/,
    );
    expect(edge1).toMatch(/-t mangle -A PREROUTING -m comment --comment edgectl:jump -j EDGECTL-DELAY/);
    // The helper starts before its rules send packets to it.
    expect(edge1.indexOf('# delay helper')).toBeLessThan(edge1.indexOf('# delay rules'));
    await expect(text).toMatchFileSnapshot('../contract/provision-commands.txt');
  });

  it('with netem: a delay of each route’s one-way latency under its class', async () => {
    const text = firstRunCommands('netem');
    expect(text).not.toContain('NFQUEUE');
    // edge1 -> cloud: one link of 150 ms; edge1 -> edge3: two links of 50 ms.
    expect(text).toMatch(
      /## edge1[\s\S]*?classid ec00:10 htb rate 75000000bit[\s\S]*?parent ec00:10 handle ed00: netem delay 150ms/,
    );
    expect(text).toMatch(
      /## edge1[\s\S]*?classid ec00:12 htb rate 100000000bit[\s\S]*?parent ec00:12 handle ed02: netem delay 100ms/,
    );
    await expect(text).toMatchFileSnapshot('../contract/provision-commands-netem.txt');
  });
});

describe('sysctl units', () => {
  const unit = sysctlUnit('forwarding', '/state/ap1.json', { 'net.ipv4.ip_forward': '1' });

  it('save the original value once, then set it', () => {
    const v = unit.decide(['net.ipv4.ip_forward=0\n', '']);
    expect(v.current).toBe(false);
    expect(v.apply.map((c) => [c.argv.at(-1), c.stdin])).toEqual([
      ['/state/ap1.json', '{"net.ipv4.ip_forward":"0"}\n'],
      ['net.ipv4.ip_forward=1', undefined],
    ]);
    expect(v.reset).toEqual([]);
  });

  it('restore the saved value on reset, and leave alone a value that was already right', () => {
    const v = unit.decide(['net.ipv4.ip_forward=1\n', '{"net.ipv4.ip_forward":"0"}\n']);
    expect(v.current).toBe(true);
    expect(v.reset.map((c) => c.argv)).toEqual([
      ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0'],
      ['rm', '-f', '/state/ap1.json'],
    ]);
    const untouched = unit.decide(['net.ipv4.ip_forward=1\n', '']);
    expect(untouched).toMatchObject({ current: true, reset: [] });
  });
});

describe('user paths', () => {
  it('a handover replaces the user’s MARK rule in place', () => {
    expect(switchUserArgv(getUser(inv, 'mu1'), 0x1bbe, 1)).toEqual([
      'iptables',
      '-w',
      '-t',
      'mangle',
      '-R',
      'EDGECTL-MU',
      '1',
      '-s',
      '198.18.10.10/32',
      '-j',
      'MARK',
      '--set-xmark',
      '0x1bbe/0xffffffff',
      '-m',
      'comment',
      '--comment',
      expect.stringMatching(/^edgectl:user-mu1:[0-9a-f]{8}$/),
    ]);
  });

  it('finds a user’s MARK rule, its position and table, in an iptables -S dump', () => {
    const dump = [
      '-P OUTPUT ACCEPT',
      '-N EDGECTL-MU',
      '-A OUTPUT -m comment --comment edgectl:jump -j EDGECTL-MU',
      '-A OUTPUT -s 198.18.10.10/32 -m comment --comment edgectl-blackout:mu1 -j DROP',
      '-A EDGECTL-MU -s 198.18.10.77/32 -m comment --comment "edgectl:user-mu2:0123abcd" -j MARK --set-xmark 0x1bbf/0xffffffff',
      '-A EDGECTL-MU -s 198.18.10.10/32 -m comment --comment "edgectl:user-mu1:0123abcd" -j MARK --set-xmark 0x1bbe/0xffffffff',
    ].join('\n');
    expect(findUserRule(dump, '198.18.10.10')).toEqual({ position: 2, table: 0x1bbe });
    expect(findUserRule(dump, '198.18.10.77')).toEqual({ position: 1, table: 0x1bbf });
    expect(findUserRule(dump, '198.18.10.1')).toBeUndefined();
  });
});

describe('AP NAT', () => {
  function natUnit(ap: string) {
    const facts = labFacts('nfqueue');
    const muFacts = new Map([...facts].filter(([n]) => n === 'mu'));
    const host = inv.hosts.find((h) => h.name === ap)!;
    const unit = hostUnits(inv, host, facts.get(ap)!, { muFacts, trust }).find((u) => u.id === 'nat');
    if (!unit) throw new Error(`no nat unit on ${ap}`);
    return unit;
  }
  const masqueradeSources = (argvs: string[][]) =>
    argvs.filter((a) => a.includes('MASQUERADE')).map((a) => a[a.indexOf('-s') + 1]);

  it('masquerades each source subnet once per AP', () => {
    for (const ap of inv.hosts.filter((h) => h.role === 'ap')) {
      const sources = masqueradeSources(
        natUnit(ap.name)
          .decide([''])
          .apply.map((c) => c.argv),
      );
      expect(sources.filter((s) => s === inv.userSubnet)).toHaveLength(1);
      expect(new Set(sources).size).toBe(sources.length);
    }
  });

  // What `iptables -S` prints on an AP provisioned by the edgectl that added a users-BS rule as well.
  const oldDump = [
    '-P POSTROUTING ACCEPT',
    '-N EDGECTL-NAT',
    '-A POSTROUTING -m comment --comment "edgectl:jump" -j EDGECTL-NAT',
    '-A EDGECTL-NAT -s 198.18.11.0/24 -o data0 -m comment --comment "edgectl:radio-ap1:82e75494" -j MASQUERADE',
    '-A EDGECTL-NAT -s 198.18.10.0/24 -o data0 -m comment --comment "edgectl:users-ap1:1998b896" -j MASQUERADE',
    '-A EDGECTL-NAT -s 198.18.10.0/24 -o data0 -m comment --comment "edgectl:users:1998b896" -j MASQUERADE',
    '',
  ].join('\n');

  it('a chain that still holds the duplicate rule is not current: it is refilled with one rule', () => {
    const v = natUnit('ap1').decide([oldDump]);
    expect(v.current).toBe(false);
    const argvs = v.apply.map((c) => c.argv);
    expect(argvs[0]).toEqual(['iptables', '-w', '-t', 'nat', '-F', 'EDGECTL-NAT']);
    expect(masqueradeSources(argvs)).toEqual(['198.18.11.0/24', inv.userSubnet]);
    // The jump is there already: no second one.
    expect(argvs.filter((a) => a.includes('POSTROUTING'))).toEqual([]);
  });

  it('the refilled chain is current, and --reset removes exactly the jump and the chain', () => {
    const fixed = oldDump
      .split('\n')
      .filter((l) => !l.includes('users-ap1'))
      .join('\n');
    const v = natUnit('ap1').decide([fixed]);
    expect(v.current).toBe(true);
    expect(v.reset.map((c) => c.argv.slice(4))).toEqual([
      ['-D', 'POSTROUTING', '-m', 'comment', '--comment', 'edgectl:jump', '-j', 'EDGECTL-NAT'],
      ['-F', 'EDGECTL-NAT'],
      ['-X', 'EDGECTL-NAT'],
    ]);
  });
});

describe('host-to-host trust', () => {
  const unitsOf = (material: TrustMaterial) => trustUnits(inv, material);
  const byId = (material: TrustMaterial, id: string) => unitsOf(material).find((u) => u.id === id)!;

  it('authorises the testbed key for the receiver only, from the servers’ data addresses', () => {
    const apply = byId(trust, 'authorized key').decide(['0 0']).apply;
    expect(apply).toHaveLength(1);
    const line = apply[0]!.argv.at(-3);
    expect(line).toBe(
      `from="198.18.1.10,198.18.1.11,198.18.1.12,198.18.1.13",restrict,command="${receiverPath('paper-fig3')}" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAITEST edgectl-testbed:paper-fig3`,
    );
    // Exactly our line, and only it: current; an old unrestricted line of ours as well: not.
    expect(byId(trust, 'authorized key').decide(['1 1']).current).toBe(true);
    expect(byId(trust, 'authorized key').decide(['1 2']).current).toBe(false);
    expect(byId(trust, 'authorized key').decide(['0 1']).current).toBe(false);
  });

  it('installs the receiver before the key that runs it; a reset removes the key first', () => {
    const ids = unitsOf(trust).map((u) => u.id);
    expect(ids.indexOf('receiver')).toBeLessThan(ids.indexOf('authorized key'));
  });

  it('the receiver is current only as root’s 0755 file with this edgectl’s script, and removed only when it is edgectl’s', () => {
    const unit = byId(trust, 'receiver');
    const script = receiverScript(stagingRoot('paper-fig3'));
    expect(unit.decide([`0 755\n---\n${script}`]).current).toBe(true);
    expect(unit.decide([`0 775\n---\n${script}`]).current).toBe(false);
    expect(unit.decide([`1000 755\n---\n${script}`]).current).toBe(false);
    expect(unit.decide([`0 755\n---\n${script.replace('set -eu', 'set -u')}`]).current).toBe(false);
    expect(unit.decide(['none\n---\n']).current).toBe(false);
    expect(unit.decide([`0 755\n---\n${script}`]).apply[0]?.stdin).toBe(script);
    expect(unit.decide(['none\n---\n']).reset).toEqual([]);
    expect(unit.decide(['0 755\n---\n#!/bin/sh\necho somebody else’s\n']).reset).toEqual([]);
    expect(unit.decide([`0 755\n---\n${script}`]).reset).toHaveLength(1);
  });

  it('refuses to install the receiver where others than root can write (here: under /tmp)', () => {
    const [install] = byId(trust, 'receiver').decide(['none\n---\n']).apply;
    const dir = mkdtempSync(join(tmpdir(), 'edgectl-receiver-'));
    try {
      const target = join(dir, 'lib', 'receive-x');
      const argv = [...install!.argv.slice(0, -1), target];
      const r = spawnSync(argv[0]!, argv.slice(1), { input: install!.stdin, encoding: 'utf8' });
      expect(r.status).toBe(1);
      // /tmp: 1777.
      expect(r.stderr).toMatch(/ is not root's alone \(owner and mode: \d+ \d+\): no forced command/);
      expect(existsSync(target)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a reset (no key material) removes the key by its marker', () => {
    const unit = byId({ privateKey: '', publicKey: '', knownHosts: '' }, 'authorized key');
    const v = unit.decide(['0 1']);
    expect(v.reset).toHaveLength(1);
    expect(v.reset[0]!.argv.slice(-3)).toEqual([
      '',
      'edgectl-testbed:paper-fig3',
      'edgectl-testbed-paper-fig3',
    ]);
    expect(unit.decide(['0 0']).reset).toEqual([]);
  });
});
