import { beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/lib/errors.js';
import { runExperiment } from '../../src/lib/experiment/run.js';
import { type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { clockSample, LineSplitter, parseAgentCommand } from '../../src/lib/mu/agent-protocol.js';
import { agentSpec, parseAgentSpec } from '../../src/lib/mu/agent-spec.js';
import { offload } from '../../src/lib/mu/offload.js';
import { blackoutArgv, blackoutLeftoversArgv, blackoutTag } from '../../src/lib/netem/iptables.js';
import { flowRateArgv, MIN_RATE_BPS } from '../../src/lib/netem/tc.js';
import type { SshPool } from '../../src/lib/remote/index.js';
import { openState } from '../../src/lib/state/index.js';
import { hostsFile } from '../helpers/lab.js';

let inv: Inventory;
beforeAll(async () => {
  inv = await loadInventory(hostsFile);
});

const placement = {
  user: 'mu1',
  service: 'compute',
  host: 'edge1',
  container: 'c',
  containerId: 'id',
  address: '198.18.1.11',
  port: 20000,
  sinceMs: 0,
};

describe('the agent spec', () => {
  it('carries what the user machine needs: its address, walk, base stations with their tables, task, endpoint', () => {
    const spec = agentSpec(inv, 'mu1', placement);
    expect(spec).toMatchObject({
      testbed: 'paper-fig3',
      user: 'mu1',
      address: '198.18.10.10',
      trajectory: { type: 'roundtrip', from: [0, 0], to: [120, 0], speed: 1 },
      task: { sizeBytes: 20000, ratePerSec: 2 },
      endpoint: { address: '198.18.1.11', port: 20000 },
      classIndex: 0,
      blackoutMs: 500,
      hysteresisDb: 3,
      handover: 'auto',
      provisionedRateBps: 300e6,
    });
    expect(spec.basestations.map((b) => [b.name, b.table, b.apAddress])).toEqual([
      ['ap1', 7101, '198.18.11.1'],
      ['ap2', 7102, '198.18.12.1'],
      ['ap3', 7103, '198.18.13.1'],
    ]);
    // Beyond the longest round trip of the testbed (ap3 -> cloud: 2 x 151 ms).
    expect(spec.attemptTimeoutMs).toBe(250 + 2 * 302);
    expect(agentSpec(inv, 'mu1', undefined).endpoint).toBeNull();
  });

  it('round-trips through JSON and names what is wrong in a bad one', () => {
    const spec = agentSpec(inv, 'mu1', placement, { blackoutMs: 250, handover: 'controller' });
    expect(parseAgentSpec(JSON.stringify(spec))).toEqual(spec);
    expect(() => parseAgentSpec('{')).toThrow(/not valid JSON/);
    expect(() => parseAgentSpec(JSON.stringify({ ...spec, blackoutMs: -1 }))).toThrow(/blackoutMs/);
    expect(() => parseAgentSpec(JSON.stringify({ ...spec, v: 2 }))).toThrow(/v:/);
    expect(() => parseAgentSpec(JSON.stringify({ ...spec, extra: 1 }))).toThrow(/extra|unrecognized/i);
  });
});

describe('the agent spec offload mode', () => {
  it("carries the deployed service's offload mode, frames only for edgectl's protocol; absent means edgectl", () => {
    const withWeb: Inventory = {
      ...inv,
      services: [
        ...inv.services,
        {
          name: 'web',
          image: 'org/web:1',
          port: 8080,
          env: {},
          probe: { kind: 'http', path: '/health' },
          offload: { kind: 'http', path: '/count' },
          at: { line: 1, column: 1 },
        },
        {
          name: 'echo',
          image: 'org/echo:1',
          port: 7,
          env: {},
          probe: { kind: 'tcp' },
          offload: { kind: 'echo' },
          at: { line: 1, column: 1 },
        },
      ],
      users: inv.users.map((u) => (u.name === 'mu1' ? { ...u, task: { ...u.task, frames: 'samples' } } : u)),
    };
    const web = agentSpec(withWeb, 'mu1', { ...placement, service: 'web' });
    expect(web.offload).toEqual({ kind: 'http', path: '/count' });
    expect(web.task.frames).toBeUndefined();
    expect(parseAgentSpec(JSON.stringify(web))).toEqual(web);
    expect(agentSpec(withWeb, 'mu1', { ...placement, service: 'echo' }).offload).toEqual({ kind: 'echo' });
    const compute = agentSpec(withWeb, 'mu1', placement);
    expect(compute.offload).toEqual({ kind: 'edgectl' });
    expect(compute.task.frames).toBe('samples');
    const { offload: _, ...older } = compute;
    expect(parseAgentSpec(JSON.stringify(older)).offload).toEqual({ kind: 'edgectl' });
    for (const bad of [
      { kind: 'http' },
      { kind: 'http', path: 'count' },
      { kind: 'tcp' },
      { kind: 'echo', path: '/x' },
    ])
      expect(() => parseAgentSpec(JSON.stringify({ ...web, offload: bad })), JSON.stringify(bad)).toThrow(
        /offload/,
      );
  });
});

describe('edgectl offload and the offload modes', () => {
  it('refuses a service whose offload is not edgectl, before reaching any host', async () => {
    const web = {
      name: 'web',
      image: 'org/web:1',
      port: 8080,
      env: {},
      probe: { kind: 'http' as const, path: '/health' },
      offload: { kind: 'http' as const, path: '/count' },
      at: { line: 1, column: 1 },
    };
    const withWeb: Inventory = { ...inv, services: [...inv.services, web] };
    const s = openState(':memory:');
    s.placements.set({ ...placement, service: 'web' }, 'deployed');
    // The pool is never reached: the refusal comes first.
    await expect(offload(withWeb, {} as SshPool, s, { user: 'mu1' })).rejects.toThrow(
      /offload: http:\/count/,
    );
    s.close();
  });

  it('experiment run takes a service with an offload mode and refuses one without, naming the key', async () => {
    const tcp = {
      name: 'raw',
      image: 'org/raw:1',
      port: 9,
      env: {},
      probe: { kind: 'tcp' as const },
      offload: null,
      at: { line: 42, column: 5 },
    };
    const withRaw: Inventory = { ...inv, services: [...inv.services, tcp] };
    const s = openState(':memory:');
    const options = {
      planners: ['nearest' as const],
      services: ['raw'],
      durationS: 1,
      seed: 1,
      repeat: 1,
      outDir: '/nonexistent',
    };
    const err = await runExperiment(withRaw, {} as SshPool, s, options).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).toMatch(/how its users send tasks to raw/);
    expect((err as UsageError).hint).toMatch(/offload: http:\/PATH.*echo.*edgectl.*:42/);
    s.close();
  });
});

describe('the agent protocol', () => {
  it('parses each command and explains a bad one', () => {
    expect(parseAgentCommand('{"cmd":"handover","to":"ap2"}')).toEqual({ cmd: 'handover', to: 'ap2' });
    expect(parseAgentCommand('{"cmd":"handover","to":"ap2","at":5}')).toEqual({
      cmd: 'handover',
      to: 'ap2',
      at: 5,
    });
    expect(parseAgentCommand('{"cmd":"handover","to":"ap2","at":5,"id":7}')).toEqual({
      cmd: 'handover',
      to: 'ap2',
      at: 5,
      id: 7,
    });
    expect(parseAgentCommand('{"cmd":"handover","to":"ap2","id":"x"}')).toEqual({
      error: expect.stringMatching(/id/),
    });
    expect(parseAgentCommand('{"cmd":"endpoint","endpoint":null}')).toEqual({
      cmd: 'endpoint',
      endpoint: null,
    });
    expect(parseAgentCommand('{"cmd":"stop"}')).toEqual({ cmd: 'stop' });
    expect(parseAgentCommand('nope')).toEqual({ error: expect.stringMatching(/not JSON/) });
    expect(parseAgentCommand('{"cmd":"fly"}')).toEqual({ error: expect.stringMatching(/bad command/) });
    expect(parseAgentCommand('{"cmd":"handover"}')).toEqual({ error: expect.stringMatching(/to/) });
    expect(parseAgentCommand('{"cmd":"endpoint","endpoint":{"address":"a","port":0}}')).toHaveProperty(
      'error',
    );
  });

  it('splits lines whatever the chunking', () => {
    const s = new LineSplitter();
    expect(s.push('{"a":1}\n{"b"')).toEqual(['{"a":1}']);
    expect(s.push(':2}')).toEqual([]);
    expect(s.push('\n\n{"c":3}\n')).toEqual(['{"b":2}', '{"c":3}']);
  });

  it('estimates the clock offset from one exchange, NTP style', () => {
    // The controller's clock is 1000 ms ahead; 10 ms each way.
    expect(clockSample(5000, 6010, 5020)).toEqual({ offsetMs: 1000, rttMs: 20 });
  });
});

describe('the builders the agent runs', () => {
  it('a blackout drops the user’s packets both ways, first in mangle OUTPUT and INPUT, and is removed by the same rules', () => {
    const on = blackoutArgv('-I', 'mu1', '198.18.10.10');
    expect(on).toEqual([
      [
        'iptables',
        '-w',
        '-t',
        'mangle',
        '-I',
        'OUTPUT',
        '1',
        '-s',
        '198.18.10.10/32',
        '-m',
        'comment',
        '--comment',
        'edgectl-blackout:mu1',
        '-j',
        'DROP',
      ],
      [
        'iptables',
        '-w',
        '-t',
        'mangle',
        '-I',
        'INPUT',
        '1',
        '-d',
        '198.18.10.10/32',
        '-m',
        'comment',
        '--comment',
        'edgectl-blackout:mu1',
        '-j',
        'DROP',
      ],
    ]);
    expect(blackoutArgv('-D', 'mu1', '198.18.10.10').map((a) => a.filter((w) => w !== '1'))).toEqual(
      on.map((a) => a.map((w) => (w === '-I' ? '-D' : w)).filter((w) => w !== '1')),
    );
  });

  it('finds the blackout rules a cut-off handover left, only the user’s own', () => {
    const dump = [
      '-P INPUT ACCEPT',
      '-A INPUT -d 198.18.10.10/32 -m comment --comment edgectl-blackout:mu1 -j DROP',
      '-A OUTPUT -s 198.18.10.77/32 -m comment --comment edgectl-blackout:mu2 -j DROP',
      '-A OUTPUT -m comment --comment edgectl:jump -j EDGECTL-MU',
    ].join('\n');
    expect(blackoutLeftoversArgv(dump, 'mu1')).toEqual([
      [
        'iptables',
        '-w',
        '-t',
        'mangle',
        '-D',
        'INPUT',
        '-d',
        '198.18.10.10/32',
        '-m',
        'comment',
        '--comment',
        blackoutTag('mu1'),
        '-j',
        'DROP',
      ],
    ]);
    expect(blackoutLeftoversArgv(dump, 'mu3')).toEqual([]);
  });

  it('a rate cap changes the user’s class in place, never below what HTB takes', () => {
    expect(flowRateArgv('r-ap1', 0, 120e6)).toEqual([
      'tc',
      'class',
      'change',
      'dev',
      'r-ap1',
      'parent',
      'ec00:',
      'classid',
      'ec00:10',
      'htb',
      'rate',
      '120000000bit',
      'ceil',
      '120000000bit',
      'quantum',
      '60000',
    ]);
    expect(flowRateArgv('r-ap2', 1, 0)).toContain(`${MIN_RATE_BPS}bit`);
  });
});

describe('what the agents record', () => {
  it('user reports, gaps, handovers with their gap, host stats: written and read back', () => {
    const s = openState(':memory:');
    s.userReports.insert([
      { atMs: 1000, user: 'mu1', position: [1, 0], bs: 'ap1', rssi: { ap1: -30, ap2: -80 }, rateBps: 300e6 },
      { atMs: 2000, user: 'mu1', position: [2, 0], bs: 'ap1', rssi: { ap1: -39, ap2: -79 }, rateBps: 300e6 },
    ]);
    expect(s.userReports.latest('mu1')).toMatchObject({ atMs: 2000, position: [2, 0], rssi: { ap1: -39 } });
    expect(s.userReports.forUser('mu1', 1500)).toHaveLength(1);
    s.handovers.insert({
      atMs: 3000,
      user: 'mu1',
      fromBs: 'ap1',
      toBs: 'ap2',
      durationMs: 512,
      linkDownMs: 505,
      answerGapMs: 700,
      trigger: 'rssi',
    });
    expect(s.handovers.forUser('mu1')).toEqual([
      {
        experimentId: null,
        atMs: 3000,
        user: 'mu1',
        fromBs: 'ap1',
        toBs: 'ap2',
        durationMs: 512,
        linkDownMs: 505,
        answerGapMs: 700,
        trigger: 'rssi',
      },
    ]);
    s.gaps.insert({ user: 'mu1', startMs: 3000, endMs: 3512, cause: 'handover' });
    expect(s.gaps.forUser('mu1')).toMatchObject([
      { startMs: 3000, endMs: 3512, cause: 'handover', detail: null },
    ]);
    s.hostStats.insert([
      {
        atMs: 10,
        host: 'edge1',
        container: null,
        cpuPct: 5,
        memBytes: 1,
        memLimitBytes: 2,
        load1: 0.1,
        cpus: 4,
      },
      {
        atMs: 20,
        host: 'edge1',
        container: null,
        cpuPct: 7,
        memBytes: 1,
        memLimitBytes: 2,
        load1: 0.2,
        cpus: 4,
      },
      {
        atMs: 20,
        host: 'edge1',
        container: 'c1',
        cpuPct: 3,
        memBytes: 1,
        memLimitBytes: 2,
        load1: null,
        cpus: null,
      },
    ]);
    expect(s.hostStats.latestHost('edge1')).toMatchObject({ atMs: 20, cpuPct: 7 });
    expect(s.hostStats.latestContainers('edge1').map((c) => c.container)).toEqual(['c1']);
    s.tasks.insert([
      {
        user: 'mu1',
        bs: 'ap2',
        host: 'edge1',
        service: 'simple',
        taskId: 1,
        counter: 1,
        sentMs: 5,
        bytes: 1,
        e2eMs: 100,
        procMs: 1,
        txMs: 99,
        reconnects: 0,
        ok: true,
        error: null,
        peer: '198.18.1.22',
      },
    ]);
    expect(s.tasks.forUser('mu1')[0]?.peer).toBe('198.18.1.22');
    s.close();
  });
});
