import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { probeAttemptTimeoutMs } from '../../src/lib/mu/probe.js';
import { describeLatency, pathLatency, warnUnemulated } from '../../src/lib/provision/latency.js';
import type { HostFact } from '../../src/lib/state/tables.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let inv: Inventory;

const fact = (host: string, emulated: boolean | null, method: string | null): HostFact => ({
  host,
  cpuScore: null,
  cpuScoreMs: null,
  cpus: null,
  memMb: null,
  latencyEmulated: emulated,
  latencyMethod: method,
  latencyMs: 1,
  updatedMs: 1,
});

beforeAll(async () => {
  inv = await loadInventory(path.join(ROOT, 'hosts.yml'));
});

describe('the latency a result carries', () => {
  it('gives each direction the route latency and the method of the host that receives it', () => {
    const facts = new Map([
      ['ap1', fact('ap1', true, 'nfqueue')],
      ['cloud', fact('cloud', false, null)],
    ]);
    const links = pathLatency(inv, (h) => facts.get(h), 'ap1', 'cloud');
    expect(links).toEqual([
      { from: 'ap1', to: 'cloud', latencyMs: 151, emulated: false, method: null },
      { from: 'cloud', to: 'ap1', latencyMs: 151, emulated: true, method: 'nfqueue' },
    ]);
    expect(describeLatency(links)).toBe('ap1->cloud 151 ms NOT emulated, cloud->ap1 151 ms nfqueue');
  });

  it('says "not known" without a record, and nothing for a host to itself', () => {
    const links = pathLatency(inv, () => undefined, 'edge1', 'edge3');
    expect(links.map((l) => [l.latencyMs, l.emulated, l.method])).toEqual([
      [100, null, null],
      [100, null, null],
    ]);
    expect(pathLatency(inv, () => undefined, 'edge1', 'edge1')).toEqual([]);
  });

  it('warns for every direction whose latency was not emulated, or is not known to be', () => {
    const said: string[] = [];
    const facts = new Map([['edge2', fact('edge2', true, 'netem')]]);
    warnUnemulated(
      { warn: (m) => said.push(m) },
      pathLatency(inv, (h) => facts.get(h), 'edge1', 'edge2'),
    );
    expect(said).toEqual([
      'edge2->edge1: whether its 50 ms latency was emulated is not known (no provision recorded in this state database): the timings may not include it',
    ]);
  });
});

describe("the migration probe's attempt timeout", () => {
  it('allows twice the longest round trip from any AP to either server, plus 250 ms', () => {
    // ap1 -> cloud: 1 + 150 ms each way.
    expect(probeAttemptTimeoutMs(inv, 'edge1', 'cloud')).toBe(250 + 2 * 302);
    // ap3 -> edge1: 1 + 50 + 50 ms each way; ap1 -> edge2 (51) is shorter.
    expect(probeAttemptTimeoutMs(inv, 'edge1', 'edge2')).toBe(250 + 2 * 202);
  });
});
