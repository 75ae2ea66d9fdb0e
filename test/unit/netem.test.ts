import { describe, expect, it } from 'vitest';
import { jsonList, parseAddrs } from '../../src/lib/netem/ip.js';
import {
  type ChainSpec,
  chainApplyArgv,
  chainIsCurrent,
  chainResetArgv,
  parseChain,
  ruleTag,
  splitRule,
} from '../../src/lib/netem/iptables.js';
import { parseTcRate, parseTree, sameTree, wantedTree } from '../../src/lib/netem/tc.js';

describe('tc read-back', () => {
  // As iproute2 6.1 prints them (captured on this machine).
  const qdiscs =
    '[{"kind":"htb","handle":"ec00:","root":true,"refcnt":3,"options":{"r2q":10,"default":"0x1"}}]';
  const classes =
    'class htb ec00:10 root prio 0 rate 75Mbit ceil 75Mbit burst 1584b cburst 1584b \nclass htb ec00:1 root prio 0 rate 10Gbit ceil 10Gbit burst 0b cburst 0b \n';
  const filters =
    '[{"parent":"ec00:","protocol":"ip","pref":1,"kind":"u32","chain":0},{"parent":"ec00:","protocol":"ip","pref":1,"kind":"u32","chain":0,"options":{"fh":"800:","ht_divisor":1}},{"parent":"ec00:","protocol":"ip","pref":1,"kind":"u32","chain":0,"options":{"fh":"800::800","order":2048,"key_ht":"800","bkt":"0","flowid":"ec00:10","not_in_hw":true,"match":{"value":"c612010a","mask":"ffffffff","offmask":"","off":16}}}]';

  it('parses rates as tc prints them', () => {
    expect(parseTcRate('75Mbit')).toBe(75e6);
    expect(parseTcRate('10Gbit')).toBe(10e9);
    expect(parseTcRate('1500Kbit')).toBe(1.5e6);
    expect(parseTcRate('fast')).toBeUndefined();
  });

  it('reads back exactly the tree it asked for', () => {
    const spec = {
      dev: 'data0',
      netem: false,
      flows: [{ label: 'cloud', match: 'dst' as const, cidr: '198.18.1.10/32', rateBps: 75e6, delayMs: 150 }],
    };
    const live = parseTree(qdiscs, classes, filters);
    expect(live.filters).toEqual([{ flowid: 'ec00:10', match: 'dst', cidr: '198.18.1.10/32' }]);
    expect(sameTree(live, wantedTree(spec))).toBe(true);
    expect(sameTree(live, wantedTree({ ...spec, flows: [{ ...spec.flows[0]!, rateBps: 100e6 }] }))).toBe(
      false,
    );
    // Where netem is wanted, a tree without it is not current.
    expect(sameTree(live, wantedTree({ ...spec, netem: true }))).toBe(false);
  });

  it('reads netem delays (in seconds in iproute2 JSON)', () => {
    const withNetem = qdiscs.replace(
      ']',
      ',{"kind":"netem","handle":"ed00:","parent":"ec00:10","options":{"limit":100000,"delay":{"delay":0.15,"jitter":0}}}]',
    );
    expect(parseTree(withNetem, classes, filters).netem).toEqual([{ parent: 'ec00:10', delayMs: 150 }]);
  });

  it('sees a tree that is not ours', () => {
    expect(parseTree('[{"kind":"noqueue","handle":"0:","root":true}]', '', '').root).toEqual({
      kind: 'noqueue',
      handle: '0:',
    });
  });
});

describe('iptables chains', () => {
  const spec: ChainSpec = {
    table: 'nat',
    chain: 'EDGECTL-NAT',
    hook: 'POSTROUTING',
    rules: [{ name: 'radio-ap1', args: ['-s', '198.18.11.0/24', '-o', 'data0', '-j', 'MASQUERADE'] }],
  };
  const tag = ruleTag(spec.rules[0]!);
  const dump = `-P POSTROUTING ACCEPT\n-N EDGECTL-NAT\n-A POSTROUTING -m comment --comment "edgectl:jump" -j EDGECTL-NAT\n-A EDGECTL-NAT -s 198.18.11.0/24 -o data0 -m comment --comment ${tag} -j MASQUERADE\n`;

  it('splits quoted words', () => {
    expect(splitRule('-A X -m comment --comment "a b" -j Y')).toEqual([
      '-A',
      'X',
      '-m',
      'comment',
      '--comment',
      'a b',
      '-j',
      'Y',
    ]);
  });

  it('knows a current chain, and what to do with a missing one', () => {
    expect(chainIsCurrent(spec, parseChain(dump, spec))).toBe(true);
    const empty = parseChain('-P POSTROUTING ACCEPT\n', spec);
    expect(chainIsCurrent(spec, empty)).toBe(false);
    expect(chainApplyArgv(spec, empty).map((a) => a.slice(4, 7))).toEqual([
      ['-N', 'EDGECTL-NAT'],
      ['-A', 'EDGECTL-NAT', '-s'],
      ['-A', 'POSTROUTING', '-m'],
    ]);
    expect(chainResetArgv(spec, empty)).toEqual([]);
    expect(chainResetArgv(spec, parseChain(dump, spec)).map((a) => a[4])).toEqual(['-D', '-F', '-X']);
  });
});

describe('ip -j output', () => {
  it('treats the lone "[" of a missing table as empty', () => {
    expect(jsonList('[')).toEqual([]);
    expect(jsonList('')).toEqual([]);
    expect(jsonList('[]\n')).toEqual([]);
  });

  it('lists IPv4 addresses with their labels', () => {
    const json =
      '[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"label":"lo"},{"family":"inet","local":"198.18.10.10","prefixlen":32,"label":"lo:edgectl"},{"family":"inet6","local":"::1","prefixlen":128}]}]';
    expect(parseAddrs(json)).toEqual([
      { dev: 'lo', address: '127.0.0.1', prefix: 8, label: 'lo' },
      { dev: 'lo', address: '198.18.10.10', prefix: 32, label: 'lo:edgectl' },
    ]);
  });
});
