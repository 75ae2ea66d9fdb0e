import { describe, expect, it } from 'vitest';
import { delayUnusable, netemUnusable, parseDelayProbe, parseTcProbe } from '../../src/lib/hosts/probes.js';
import {
  chainQueues,
  DELAY_BIN,
  delayPlan,
  helperArgv,
  helperFiles,
  helperIsCurrent,
  parseBoundQueues,
  parseHelperState,
  specArg,
} from '../../src/lib/netem/nfqueue.js';
import { chooseLatency } from '../../src/lib/provision/provision.js';

const files = helperFiles('tb', 'edge1');
const plan = delayPlan('data0', [
  { label: 'cloud', cidr: '198.18.1.10/32', delayMs: 150 },
  { label: 'edge2', cidr: '198.18.1.12/32', delayMs: 50 },
  { label: 'edge3', cidr: '198.18.1.13/32', delayMs: 100 },
  { label: 'other', cidr: '198.18.1.14/32', delayMs: 50 },
  { label: 'lan', cidr: '198.18.1.15/32', delayMs: 0 },
]);

/** What readHelperArgv prints on a host. */
function state(pidfile: string, cmdline: string[] | undefined, bound: number[]): string {
  const lines = [`@edgectl-delay pidfile ${pidfile}`];
  if (cmdline) lines.push('@edgectl-delay cmdline', ...cmdline);
  lines.push('@edgectl-delay bound');
  for (const q of bound) lines.push(`${q}  31337     0 1     0     0     0       12  1`);
  return `${lines.join('\n')}\n`;
}

describe('delay plans', () => {
  it('give each distinct delay one queue, in ascending order, and peers without delay no rule', () => {
    expect(plan.specs.map(specArg)).toEqual(['60400:50000', '60401:100000', '60402:150000']);
    expect(plan.rules).toEqual([
      { label: 'cloud', cidr: '198.18.1.10/32', queue: 60402 },
      { label: 'edge2', cidr: '198.18.1.12/32', queue: 60400 },
      { label: 'edge3', cidr: '198.18.1.13/32', queue: 60401 },
      { label: 'other', cidr: '198.18.1.14/32', queue: 60400 },
    ]);
  });

  it('keep jitter and loss apart from the bare delay', () => {
    const p = delayPlan('d', [
      { label: 'a', cidr: '1/32', delayMs: 10 },
      { label: 'b', cidr: '2/32', delayMs: 10, jitterMs: 2 },
      { label: 'c', cidr: '3/32', delayMs: 10, loss: 0.01 },
    ]);
    expect(p.specs.map(specArg)).toEqual(['60400:10000', '60401:10000:0:10000', '60402:10000:2000']);
  });

  it('refuse more distinct delays than the helper serves', () => {
    const many = Array.from({ length: 65 }, (_, i) => ({ label: `p${i}`, cidr: `x${i}`, delayMs: i + 1 }));
    expect(() => delayPlan('d', many)).toThrow(/65 distinct link delays on d/);
  });
});

describe('the live helper', () => {
  const want = helperArgv(plan, files);

  it('is current when the pidfile names a process with the wanted command line serving every queue', () => {
    const live = parseHelperState(state('4242', want, [60400, 60401, 60402]));
    expect(live).toEqual({ pidfile: true, pid: 4242, argv: want, bound: [60400, 60401, 60402] });
    expect(helperIsCurrent(plan, files, live)).toBe(true);
  });

  it('is not current when it died (a pidfile left, no process), serves another set, or a queue is unserved', () => {
    const dead = parseHelperState(state('4242', [], []));
    expect(dead.pidfile).toBe(true);
    expect(dead.argv).toEqual([]);
    expect(helperIsCurrent(plan, files, dead)).toBe(false);
    const other = [...want.slice(0, -1), '60402:140000'];
    expect(helperIsCurrent(plan, files, parseHelperState(state('1', other, [60400, 60401, 60402])))).toBe(
      false,
    );
    expect(helperIsCurrent(plan, files, parseHelperState(state('1', want, [60400, 60401])))).toBe(false);
  });

  it('is absent without a pidfile', () => {
    expect(parseHelperState(state('-', undefined, [60400]))).toEqual({
      pidfile: false,
      argv: [],
      bound: [60400],
    });
  });

  it('names its pidfile per testbed and host, and runs from where install-host-deps.sh puts it', () => {
    expect(files.pidfile).toBe('/run/edgectl/delay/tb/edge1.pid');
    expect(want.slice(0, 2)).toEqual([DELAY_BIN, '--daemon']);
  });
});

describe('reading the kernel and iptables back', () => {
  it('lists the bound queues of /proc/net/netfilter/nfnetlink_queue', () => {
    expect(
      parseBoundQueues('60400  19654     1 1     0     0     0       14  1\n  60401 19654 0 1 0 0 0 3 1\n'),
    ).toEqual([60400, 60401]);
  });

  it('lists the queues the delay chain sends to', () => {
    const dump = [
      '-N EDGECTL-DELAY',
      '-A PREROUTING -m comment --comment edgectl:jump -j EDGECTL-DELAY',
      '-A EDGECTL-DELAY -s 198.18.1.10/32 -i data0 -m comment --comment edgectl:from-cloud:1 -j NFQUEUE --queue-num 60402 --queue-bypass',
      '-A EDGECTL-DELAY -s 198.18.1.12/32 -i data0 -m comment --comment edgectl:from-edge2:1 -j NFQUEUE --queue-num 60400 --queue-bypass',
    ].join('\n');
    expect(chainQueues(dump)).toEqual([60400, 60402]);
  });

  it('parses the probe: installed, able to serve, provisioned and running or not', () => {
    const ok = parseDelayProbe(
      'helper:yes:edgectl-delay 0123456789ab\nqueue:yes\ntarget:yes\nchain:60400 60401 \nbound:60400 60401 \n',
    );
    expect(ok).toEqual({
      helper: { ok: true, version: '0123456789ab' },
      nfqueue: true,
      chainQueues: [60400, 60401],
      bound: [60400, 60401],
      running: true,
      reasons: [],
    });
    const dead = parseDelayProbe(
      'helper:yes:edgectl-delay 0123456789ab\nqueue:yes\ntarget:yes\nchain:60400 60401 \nbound:\n',
    );
    expect(dead.running).toBe(false);
    const unprovisioned = parseDelayProbe(
      'helper:yes:edgectl-delay x\nqueue:yes\ntarget:yes\nchain:\nbound:\n',
    );
    expect(unprovisioned.running).toBeNull();
    const missing = parseDelayProbe(
      'helper:no:127:sh: 1: /usr/local/sbin/edgectl-delay: not found\ntarget:yes\nchain:\nbound:\n',
    );
    expect(missing.nfqueue).toBe(false);
    expect(missing.reasons).toEqual(['edgectl-delay is not installed']);
    const noTarget = parseDelayProbe(
      "helper:yes:edgectl-delay x\nqueue:yes\ntarget:no:iptables v1.8.9: Couldn't load target `NFQUEUE'\nchain:\nbound:\n",
    );
    expect(noTarget.nfqueue).toBe(false);
    expect(noTarget.reasons[0]).toMatch(
      /^iptables refused an NFQUEUE rule: iptables v1\.8\.9: Couldn't load target/,
    );
  });
});

describe('choosing a latency method', () => {
  it('auto prefers netem, then edgectl-delay; a forced method is that or nothing', () => {
    expect(chooseLatency('auto', true, true)).toBe('netem');
    expect(chooseLatency('auto', false, true)).toBe('nfqueue');
    expect(chooseLatency('auto', false, false)).toBeNull();
    expect(chooseLatency('nfqueue', true, true)).toBe('nfqueue');
    expect(chooseLatency('netem', false, true)).toBeNull();
    expect(chooseLatency('nfqueue', true, null)).toBeNull();
  });
});

describe('why a method cannot delay packets', () => {
  it("gives tc's and the helper's own words, and nothing where the method works", () => {
    expect(netemUnusable(parseTcProbe('htb:yes\nnetem:yes\n'))).toEqual([]);
    expect(
      netemUnusable(parseTcProbe('htb:yes\nnetem:no:Error: Specified qdisc kind is unknown.\n')),
    ).toEqual(['no tc netem: Error: Specified qdisc kind is unknown.']);
    expect(netemUnusable(parseTcProbe(''), 126)).toEqual(['the tc probe failed (exit 126)']);
    const ok = parseDelayProbe('helper:yes:edgectl-delay x\nqueue:yes\ntarget:yes\nchain:\nbound:\n');
    expect(delayUnusable(ok)).toEqual([]);
    expect(delayUnusable(ok, 1)).toEqual(['the edgectl-delay probe failed (exit 1)']);
    expect(delayUnusable(parseDelayProbe('helper:no:127:not found\n'))).toEqual([
      'edgectl-delay is not installed',
    ]);
  });
});
