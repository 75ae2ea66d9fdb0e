import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import {
  linkProbeArgv,
  linkResult,
  parseLinkProbe,
  probeDeadlineS,
  probePairs,
} from '../../src/lib/monitor/links.js';
import { allocation, buildSnapshot, pairLatency, summariseTasks } from '../../src/lib/monitor/snapshot.js';
import {
  containerCpuPct,
  containerMemBytes,
  containerStat,
  hostCpuPct,
  hostStatsArgv,
  parseHostStats,
} from '../../src/lib/monitor/stats.js';
import { openState, type TaskRecord } from '../../src/lib/state/index.js';
import { median, quantile } from '../../src/lib/util/stats.js';

let inv: Inventory;
const dir = mkdtempSync(join(tmpdir(), 'edgectl-monitor-'));
beforeAll(async () => {
  inv = await loadInventory(path.join(fileURLToPath(new URL('../..', import.meta.url)), 'hosts.yml'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('order statistics', () => {
  it('interpolates quantiles and takes the middle of an even count', () => {
    expect(median([])).toBeNull();
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantile([0, 10], 0.95)).toBeCloseTo(9.5);
    expect(quantile([5], 0.95)).toBe(5);
  });
});

describe('link probes', () => {
  it('measures every AP to every server and every server pair once, with the RTT and bottleneck of hosts.yml', () => {
    const pairs = probePairs(inv);
    expect(pairs).toHaveLength(3 * 4 + 6);
    const get = (from: string, to: string) => pairs.find((p) => p.from === from && p.to === to);
    expect(get('ap1', 'edge1')).toEqual({ from: 'ap1', to: 'edge1', expectedRttMs: 2, bandwidthBps: 1e9 });
    expect(get('ap1', 'edge2')).toMatchObject({ expectedRttMs: 102, bandwidthBps: 100e6 });
    expect(get('ap3', 'cloud')).toMatchObject({ expectedRttMs: 302, bandwidthBps: 75e6 });
    expect(get('edge1', 'edge3')).toMatchObject({ expectedRttMs: 200, bandwidthBps: 100e6 });
    expect(get('cloud', 'edge1')).toMatchObject({ expectedRttMs: 300 });
    expect(get('edge2', 'edge1')).toBeUndefined();
    expect(pairs.some((p) => p.from === 'ap1' && p.to === 'ap2')).toBe(false);
  });

  it('pings every peer at once from the data address, each line tagged with its peer', () => {
    const argv = linkProbeArgv('198.18.1.21', [
      { address: '198.18.1.11', expectedRttMs: 2 },
      { address: '198.18.1.10', expectedRttMs: 302 },
    ]);
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv[2]).toBe(
      "{ ping -U -n -c 5 -i 0.2 -w 3 -I 198.18.1.21 198.18.1.11 2>&1 | sed 's/^/@198.18.1.11 /'; } & " +
        "{ ping -U -n -c 5 -i 0.2 -w 3 -I 198.18.1.21 198.18.1.10 2>&1 | sed 's/^/@198.18.1.10 /'; } & wait",
    );
    expect(probeDeadlineS(302)).toBe(3);
    expect(probeDeadlineS(2000)).toBe(6);
  });

  it('runs through a real sh and tags what each job printed', () => {
    // The same shape with `echo` standing in for ping: the tagging and the waiting are the shell's.
    const script = (
      linkProbeArgv('127.0.0.1', [{ address: '198.18.9.9', expectedRttMs: 1 }])[2] ?? ''
    ).replace(/ping [^|]*/, 'printf "one\\ntwo\\n" ');
    expect(execFileSync('sh', ['-c', script], { encoding: 'utf8' })).toBe(
      '@198.18.9.9 one\n@198.18.9.9 two\n',
    );
  });

  const output = [
    '@198.18.1.12 PING 198.18.1.12 (198.18.1.12) from 198.18.1.21 : 56(84) bytes of data.',
    '@198.18.1.11 PING 198.18.1.11 (198.18.1.11) from 198.18.1.21 : 56(84) bytes of data.',
    '@198.18.1.11 64 bytes from 198.18.1.11: icmp_seq=1 ttl=64 time=2.43 ms',
    '@198.18.1.12 64 bytes from 198.18.1.12: icmp_seq=1 ttl=64 time=102 ms',
    '@198.18.1.11 64 bytes from 198.18.1.11: icmp_seq=2 ttl=64 time=2.61 ms',
    '@198.18.1.12 64 bytes from 198.18.1.12: icmp_seq=3 ttl=64 time=103 ms',
    '@198.18.1.11 64 bytes from 198.18.1.11: icmp_seq=3 ttl=64 time=2.50 ms',
    '@198.18.1.11 ',
    '@198.18.1.11 --- 198.18.1.11 ping statistics ---',
    '@198.18.1.11 3 packets transmitted, 3 received, 0% packet loss, time 401ms',
    '@198.18.1.11 rtt min/avg/max/mdev = 2.430/2.513/2.610/0.073 ms',
    '@198.18.1.12 4 packets transmitted, 2 received, 50% packet loss, time 603ms',
    '@198.18.1.10 ping: bind: Cannot assign requested address',
  ].join('\n');

  it("reads each peer's round trips, counts and complaints", () => {
    const seen = parseLinkProbe(output);
    expect(seen.get('198.18.1.11')).toEqual({ samples: [2.43, 2.61, 2.5], sent: 3, received: 3 });
    expect(seen.get('198.18.1.12')).toEqual({ samples: [102, 103], sent: 4, received: 2 });
    expect(seen.get('198.18.1.10')?.error).toBe('ping: bind: Cannot assign requested address');
  });

  it('records the median, minimum and loss of a pair, and says why it has no RTT', () => {
    const seen = parseLinkProbe(output);
    const pair = { from: 'ap1', to: 'edge1', expectedRttMs: 2, bandwidthBps: 1e9 };
    expect(linkResult(pair, 5, seen.get('198.18.1.11'))).toEqual({
      atMs: 5,
      fromHost: 'ap1',
      toHost: 'edge1',
      rttMs: 2.5,
      bandwidthBps: 1e9,
      method: 'ping-U',
      expectedRttMs: 2,
      rttMinMs: 2.43,
      lossPct: 0,
    });
    expect(linkResult({ ...pair, to: 'edge2' }, 5, seen.get('198.18.1.12'))).toMatchObject({
      rttMs: 102.5,
      lossPct: 50,
    });
    expect(linkResult({ ...pair, to: 'cloud' }, 5, seen.get('198.18.1.10'))).toMatchObject({
      rttMs: null,
      error: 'ping: bind: Cannot assign requested address',
    });
    expect(linkResult(pair, 5, { samples: [], sent: 5, received: 0 })).toMatchObject({
      rttMs: null,
      lossPct: 100,
      error: 'no answer to 5 echoes',
    });
    expect(linkResult(pair, 5, undefined).error).toBe('the probe printed nothing for this peer');
  });
});

describe('server statistics', () => {
  const cpu1 = 'cpu  100 0 100 800 0 0 0 0 0 0';
  const cpu2 = 'cpu  250 0 150 900 0 0 0 0 0 0';

  it('takes the busy share of all cores between two /proc/stat lines', () => {
    // busy 200 -> 400 (+200) of a total 1000 -> 1300 (+300)
    expect(hostCpuPct(cpu1, cpu2)).toBeCloseTo(66.67, 1);
    expect(hostCpuPct(cpu1, cpu1)).toBe(0);
  });

  it('parses the host reading, and names what is missing', () => {
    const text = [
      '0.52 0.58 0.59 2/301 4242',
      '2',
      'MemTotal:       24000000 kB',
      'MemAvailable:   20000000 kB',
      cpu1,
      cpu2,
    ].join('\n');
    expect(parseHostStats(text)).toEqual({
      cpuPct: expect.closeTo(66.67, 1),
      load1: 0.52,
      cpus: 2,
      memBytes: 4_000_000 * 1024,
      memLimitBytes: 24_000_000 * 1024,
    });
    expect(() => parseHostStats('2\n')).toThrow(/\/proc\/loadavg, MemTotal, MemAvailable, two cpu lines/);
    expect(hostStatsArgv(250)[2]).toContain('sleep 0.250');
  });

  it("uses Docker's CPU formula, drops reclaimable cache from memory, and samples twice when precpu is empty", () => {
    const a = { cpu_usage: { total_usage: 1e9 }, system_cpu_usage: 100e9, online_cpus: 2 };
    const b = { cpu_usage: { total_usage: 1.5e9 }, system_cpu_usage: 102e9, online_cpus: 2 };
    expect(containerCpuPct(b, a)).toBeCloseTo(50);
    expect(containerCpuPct(b, undefined)).toBeNull();
    expect(containerMemBytes({ usage: 100, stats: { inactive_file: 30 } })).toBe(70);
    expect(containerMemBytes({ usage: 100, stats: { total_inactive_file: 200 } })).toBe(100);
    expect(containerMemBytes(undefined)).toBeNull();
    const first = { cpu_stats: a, precpu_stats: {}, memory_stats: { usage: 10, limit: 100 } };
    const second = { cpu_stats: b, precpu_stats: a, memory_stats: { usage: 20, limit: 100 } };
    expect(containerStat('edge1', 'c', 1, first, second)).toMatchObject({
      cpuPct: expect.closeTo(50),
      memBytes: 20,
      memLimitBytes: 100,
      load1: null,
    });
  });
});

describe('the snapshot', () => {
  const task = (sentMs: number, e2eMs: number | null, ok = true): TaskRecord => ({
    user: 'mu1',
    bs: 'ap1',
    host: 'edge1',
    service: 'compute',
    taskId: sentMs,
    counter: sentMs,
    sentMs,
    bytes: 100,
    e2eMs,
    procMs: e2eMs === null ? null : 1,
    txMs: e2eMs === null ? null : e2eMs - 1,
    reconnects: 0,
    ok,
    error: ok ? null : 'timed out',
  });

  it("summarises a window's tasks: counts, rate, medians, p95 of the answered", () => {
    const tasks = [task(1, 10), task(2, 20), task(3, 30), task(4, null, false)];
    const { summary, samples } = summariseTasks(tasks, 2, 4);
    expect(summary).toEqual({
      count: 4,
      ok: 3,
      failed: 1,
      perSec: 2,
      e2eMs: { median: 20, p95: 29 },
      procMs: { median: 1 },
      txMs: { median: 19 },
      lastAtMs: 4,
    });
    expect(samples.map((s) => s.e2eMs)).toEqual([10, 20, 30]);
  });

  it("counts a service's limits against capacity, or what its container uses where it has none", () => {
    const placement = {
      user: 'mu1',
      service: 'compute',
      host: 'edge1',
      container: 'c1',
      containerId: 'x',
      address: 'a',
      port: 1,
      sinceMs: 0,
    };
    const services = inv.services;
    expect(allocation([placement], services, [])).toEqual({ cpus: 1, memMB: 512 });
    const stat = {
      atMs: 0,
      host: 'edge1',
      container: 'c2',
      cpuPct: 25,
      memBytes: 64 * 2 ** 20,
      memLimitBytes: null,
      load1: null,
      cpus: null,
    };
    expect(allocation([{ ...placement, service: 'simple', container: 'c2' }], services, [stat])).toEqual({
      cpus: 0.25,
      memMB: 64,
    });
  });

  it("says a pair's latency is emulated only when both ends emulate it", () => {
    const fact = (emulated: boolean | null, method: string | null) => ({
      host: 'h',
      cpuScore: null,
      cpuScoreMs: null,
      cpus: null,
      memMb: null,
      latencyEmulated: emulated,
      latencyMethod: method,
      latencyMs: 0,
      updatedMs: 0,
    });
    expect(pairLatency(fact(true, 'nfqueue'), fact(true, 'nfqueue'))).toEqual({
      latencyMethod: 'nfqueue',
      latencyEmulated: true,
    });
    expect(pairLatency(fact(true, 'netem'), fact(true, 'nfqueue')).latencyMethod).toBe('netem/nfqueue');
    expect(pairLatency(fact(true, 'netem'), fact(false, null))).toEqual({
      latencyMethod: null,
      latencyEmulated: false,
    });
    expect(pairLatency(undefined, fact(true, 'netem')).latencyEmulated).toBeNull();
  });

  it('reads the newest of everything from the state database, in the shape the planner reads', () => {
    const state = openState(join(dir, 'snapshot.db'));
    try {
      const t0 = 1_000_000;
      state.userReports.insert([
        { atMs: t0 - 500, user: 'mu1', position: [1, 0], bs: 'ap1', rssi: { ap1: -60 }, rateBps: 1e8 },
        {
          atMs: t0 - 100,
          user: 'mu1',
          position: [2, 0],
          bs: 'ap1',
          rssi: { ap1: -61, ap2: -80, ap3: -90 },
          rateBps: 9e7,
        },
      ]);
      state.tasks.insert([task(t0 - 60_000, 5), task(t0 - 2000, 4), task(t0 - 1000, 6)]);
      state.hostFacts.setCpuScore('edge1', 3800, t0);
      state.hostFacts.setLatency('ap1', true, 'nfqueue', t0);
      state.hostFacts.setLatency('edge1', true, 'nfqueue', t0);
      state.hostStats.insert([
        {
          atMs: t0,
          host: 'edge1',
          container: null,
          cpuPct: 12,
          memBytes: 1,
          memLimitBytes: 2,
          load1: 0.5,
          cpus: 2,
        },
      ]);
      state.links.insert({
        atMs: t0,
        fromHost: 'ap1',
        toHost: 'edge1',
        rttMs: 2.3,
        bandwidthBps: 1e9,
        method: 'ping-U',
      });
      const s = buildSnapshot(inv, state, { atMs: t0, windowS: 30 });
      expect(s.windowS).toBe(30);
      const u = s.users.find((x) => x.user === 'mu1');
      expect(u?.report).toEqual({
        atMs: t0 - 100,
        ageS: 0.1,
        position: [2, 0],
        bs: 'ap1',
        rssi: { ap1: -61, ap2: -80, ap3: -90 },
        rateBps: 9e7,
      });
      expect(u?.tasks).toMatchObject({ count: 2, ok: 2, e2eMs: { median: 5 }, lastAtMs: t0 - 1000 });
      expect(u?.samples.map((x) => x.atMs)).toEqual([t0 - 2000, t0 - 1000]);
      const edge1 = s.servers.find((x) => x.host === 'edge1');
      expect(edge1).toMatchObject({
        cpuScore: 3800,
        load1: 0.5,
        cpuPct: 12,
        capacity: { cpus: 4, memMB: 16384 },
      });
      expect(edge1?.free).toEqual({ cpus: 4, memMB: 16384 });
      expect(s.servers.map((x) => x.host)).toEqual(['cloud', 'edge1', 'edge2', 'edge3']);
      expect(s.links).toHaveLength(18);
      expect(s.links.find((l) => l.from === 'ap1' && l.to === 'edge1')).toEqual({
        from: 'ap1',
        to: 'edge1',
        rttMs: 2.3,
        expectedRttMs: 2,
        atMs: t0,
        method: 'ping-U',
        bandwidthBps: 1e9,
        bandwidthSource: 'inventory',
        latencyMethod: 'nfqueue',
        latencyEmulated: true,
      });
      expect(s.links.find((l) => l.from === 'ap1' && l.to === 'cloud')).toMatchObject({
        rttMs: null,
        latencyEmulated: null,
      });
    } finally {
      state.close();
    }
  });
});
