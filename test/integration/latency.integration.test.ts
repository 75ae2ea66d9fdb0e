/**
 * Link latency on a kernel without netem, such as the development VM's: edgectl-delay holds what each
 * wired host receives from a peer for the route's one-way latency. Round trips between hosts and a
 * user's tasks follow hosts.yml, bulk TCP still fills a 100 Mbit/s link, a migration still works, a
 * dead helper only takes the delay away (and is found and restarted), a second provision changes
 * nothing and a reset leaves nothing.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChecksReport } from '../../src/lib/hosts/check.js';
import { getHost, type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import type { MigrationResult } from '../../src/lib/migration/pipeline.js';
import type { OffloadResult } from '../../src/lib/mu/offload.js';
import { DELAY_BIN, DELAY_CHAIN, helperFiles } from '../../src/lib/netem/nfqueue.js';
import type { ProvisionResult } from '../../src/lib/provision/provision.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { edgectl } from '../helpers/cli.js';
import { hostsFile } from '../helpers/lab.js';
import { bulkRate, median, tcpRtts } from '../helpers/net.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-latency-'));
const stateFile = join(dir, 'state.db');
const pool = new SshPool();
let inv: Inventory;
let port = 7400;

function cli<T>(args: string[]) {
  return edgectl<T>([...args, '-f', hostsFile, '--state', stateFile, '--json'], { timeoutMs: 300_000 });
}

const exec = (name: string) => pool.executor(getHost(inv, name));

/** The median user-level round trip from one host to another's data address, ms. */
async function rtt(from: string, to: string, count = 7): Promise<number> {
  return median(await tcpRtts(exec(from), exec(to), getHost(inv, to).dataAddress, port++, count));
}

function expectWithin(value: number, target: number, fraction: number): void {
  expect(value).toBeGreaterThanOrEqual(target * (1 - fraction));
  expect(value).toBeLessThanOrEqual(target * (1 + fraction));
}

/** The pid of a host's helper, read from its pidfile on the host. */
async function helperPid(host: string): Promise<number> {
  const r = await exec(host).run(['cat', helperFiles(inv.testbed, host).pidfile]);
  expect(r.code, r.stderr).toBe(0);
  return Number(r.stdout.trim());
}

/** Processes running edgectl-delay for this testbed (the lab's hosts share this machine's processes). */
function helperProcesses(): string[] {
  const found: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv[0] === DELAY_BIN && argv.some((a) => a.includes(`/delay/${inv.testbed}/`)))
        found.push(`${entry}: ${argv.join(' ')}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function offloadMedian(size: number): Promise<{ e2e: number; result: OffloadResult }> {
  const r = await cli<OffloadResult>(['offload', '--user', 'mu1', '--count', '9', '--size', String(size)]);
  expect(r.exitCode, r.stderr).toBe(0);
  const result = r.json!.result!;
  return { e2e: median(result.tasks.map((t) => t.e2eMs)), result };
}

async function deployOn(host: string): Promise<void> {
  await cli(['undeploy', '--user', 'mu1']);
  const r = await cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', host]);
  expect(r.exitCode, r.stderr).toBe(0);
}

beforeAll(async () => {
  inv = await loadInventory(hostsFile);
  const r = await cli<ProvisionResult>(['provision', '--latency', 'nfqueue', '--require-latency']);
  expect(r.exitCode, r.stderr).toBe(0);
});

afterAll(async () => {
  await cli(['undeploy', '--user', 'mu1']);
  // Leave the lab provisioned for the files after this one.
  await cli(['provision']);
  await pool.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('latency with edgectl-delay on a kernel without netem', () => {
  it('every wired host reports its latency emulated with nfqueue, and hosts check sees the helper running', async () => {
    const r = await cli<ProvisionResult>(['provision']);
    expect(r.exitCode, r.stderr).toBe(0);
    for (const h of r.json?.result?.hosts ?? []) {
      if (h.role === 'mu') expect([h.name, h.latencyEmulated]).toEqual([h.name, null]);
      else expect([h.name, h.latencyEmulated, h.latencyMethod]).toEqual([h.name, true, 'nfqueue']);
    }
    const check = await cli<ChecksReport>(['hosts', 'check']);
    expect(check.exitCode, check.stderr).toBe(0);
    for (const h of check.json?.result?.hosts ?? []) {
      if (h.role === 'mu') continue;
      expect([h.name, h.latency?.nfqueue, h.latency?.running, h.latency?.helper.current]).toEqual([
        h.name,
        true,
        true,
        true,
      ]);
    }
  });

  it('user-level round trips follow hosts.yml within 5%: edge2 100 ms, cloud 300 ms, edge3 (two hops) 200 ms', async () => {
    const [toEdge2, toCloud, toEdge3] = [
      await rtt('edge1', 'edge2'),
      await rtt('edge1', 'cloud'),
      await rtt('edge1', 'edge3'),
    ];
    process.stderr.write(
      `RTT from edge1: edge2 ${toEdge2.toFixed(1)} ms, cloud ${toCloud.toFixed(1)} ms, edge3 ${toEdge3.toFixed(1)} ms\n`,
    );
    expectWithin(toEdge2, 100, 0.05);
    expectWithin(toCloud, 300, 0.05);
    expectWithin(toEdge3, 200, 0.05);
  });

  it('as docs/design/latency.md says: `ping -U` sees the whole round trip to edge2 (100 ms), plain `ping` only its request’s 50 ms', async () => {
    const avg = async (flags: string[]) => {
      const r = await exec('edge1').run([
        'ping',
        ...flags,
        '-c',
        '5',
        '-i',
        '0.2',
        getHost(inv, 'edge2').dataAddress,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout);
      return Number(m?.[1]);
    };
    const user = await avg(['-U']);
    const plain = await avg([]);
    process.stderr.write(`ping edge1 -> edge2: -U ${user} ms, plain ${plain} ms\n`);
    expectWithin(user, 100, 0.05);
    expectWithin(plain, 50, 0.1);
  });

  it("a user's tasks through ap1 take 302 ms to the cloud, about 102 ms to edge2 and under 10 ms to edge1", async () => {
    await deployOn('cloud');
    const cloud = await offloadMedian(200);
    expectWithin(cloud.e2e, 302, 0.05);
    expect(cloud.result.latency).toEqual([
      { from: 'ap1', to: 'cloud', latencyMs: 151, emulated: true, method: 'nfqueue' },
      { from: 'cloud', to: 'ap1', latencyMs: 151, emulated: true, method: 'nfqueue' },
    ]);
    await deployOn('edge2');
    const edge2 = await offloadMedian(200);
    expectWithin(edge2.e2e, 102, 0.05);
    await deployOn('edge1');
    const edge1 = await offloadMedian(200);
    expect(edge1.e2e).toBeLessThan(10);
    process.stderr.write(
      `offload e2e medians via ap1: cloud ${cloud.e2e.toFixed(1)} ms, edge2 ${edge2.e2e.toFixed(1)} ms, edge1 ${edge1.e2e.toFixed(1)} ms\n`,
    );
  });

  it('bulk TCP from edge1 to edge2 reaches at least 85% of 100 Mbit/s over 10 s with the 50 ms latency on', async () => {
    const rate = await bulkRate(exec('edge1'), exec('edge2'), getHost(inv, 'edge2').dataAddress, port++, 10);
    process.stderr.write(`bulk TCP edge1 -> edge2 with latency: ${(rate / 1e6).toFixed(1)} Mbit/s\n`);
    expect(rate).toBeGreaterThanOrEqual(85e6);
    expect(rate).toBeLessThanOrEqual(110e6);
  });

  it('a delta migration from edge1 to edge2 works with latency on and reports its downtime and the link', async () => {
    // (mu1's service runs on edge1 since the offload test.)
    const r = await cli<MigrationResult>(['migrate', '--user', 'mu1', '--to', 'edge2']);
    expect(r.exitCode, r.stderr).toBe(0);
    const m = r.json!.result!;
    expect(m.strategy).toBe('delta');
    expect(m.downtimeMs).toBeGreaterThan(0);
    expect(m.latency).toEqual([
      { from: 'edge1', to: 'edge2', latencyMs: 50, emulated: true, method: 'nfqueue' },
      { from: 'edge2', to: 'edge1', latencyMs: 50, emulated: true, method: 'nfqueue' },
    ]);
    const after = await offloadMedian(200);
    expectWithin(after.e2e, 102, 0.05);
  });

  it('with the helper killed, traffic still flows without the delay; hosts check and provision say so, and provision restarts it', async () => {
    const pid = await helperPid('edge2');
    expect((await exec('edge2').run(['kill', '-KILL', String(pid)])).code).toBe(0);
    // edge2 no longer delays what it receives; edge1 still does: half the round trip is left.
    expectWithin(await rtt('edge1', 'edge2'), 50, 0.1);
    const check = await cli<ChecksReport>(['hosts', 'check', '--host', 'edge2']);
    const edge2 = check.json?.result?.hosts[0];
    expect(edge2?.latency?.running).toBe(false);
    expect(check.json?.warnings.join('\n')).toMatch(
      /edge2: edgectl-delay is not running: .* WITHOUT their delay/,
    );
    // Results from now on say so too.
    const offload = await cli<OffloadResult>(['offload', '--user', 'mu1', '--size', '200']);
    expect(offload.json?.result?.latency.find((l) => l.to === 'edge2')).toMatchObject({ emulated: false });
    expect(offload.json?.warnings.join('\n')).toMatch(/ap2->edge2|ap1->edge2/);

    const p = await cli<ProvisionResult>(['provision']);
    expect(p.exitCode, p.stderr).toBe(0);
    expect(p.json?.warnings.join('\n')).toMatch(/edge2: edgectl-delay was not running: .*started again/);
    expect(p.json?.result?.hosts.filter((h) => h.changed).map((h) => h.name)).toEqual(['edge2']);
    expect(await helperPid('edge2')).not.toBe(pid);
    expectWithin(await rtt('edge1', 'edge2'), 100, 0.05);
  });

  it('--latency netem fails before changing anything where the kernel has no netem', async () => {
    const check = await cli<ChecksReport>(['hosts', 'check', '--host', 'edge1']);
    const netem = check.json?.result?.hosts[0]?.netem;
    const r = await cli<ProvisionResult>(['provision', '--latency', 'netem']);
    if (netem === false) {
      expect(r.exitCode, r.stderr).toBe(7);
      expect(r.json?.error?.message).toMatch(
        /link latency cannot be emulated with netem on .*edge1 \(no tc netem/,
      );
      // Nothing changed: the helpers still run and the round trip is still emulated.
      expectWithin(await rtt('edge1', 'edge2'), 100, 0.05);
    } else {
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.json?.result?.hosts.find((h) => h.name === 'edge1')?.latencyMethod).toBe('netem');
      expect((await cli(['provision', '--latency', 'nfqueue'])).exitCode).toBe(0);
    }
  });

  it('a second provision changes nothing', async () => {
    const r = await cli<ProvisionResult>(['provision']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result?.changed).toBe(false);
    for (const h of r.json?.result?.hosts ?? []) expect([h.name, h.commands]).toEqual([h.name, []]);
  });

  it('--reset leaves no rule, queue or helper process behind', async () => {
    await cli(['undeploy', '--user', 'mu1']);
    expect(helperProcesses()).toHaveLength(7);
    const r = await cli<ProvisionResult>(['provision', '--reset']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(helperProcesses()).toEqual([]);
    for (const h of inv.hosts) {
      const s = await exec(h.name).run([
        'sh',
        '-c',
        `iptables -w -t mangle -S | grep -c ${DELAY_CHAIN}; cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null | wc -l; ls /run/edgectl/delay/${inv.testbed} 2>/dev/null | wc -l`,
      ]);
      expect([h.name, s.stdout.trim().split('\n')]).toEqual([h.name, ['0', '0', '0']]);
    }
    // Without latency the path is a LAN again.
    expect(await rtt('edge1', 'cloud')).toBeLessThan(20);
  });
});
