/**
 * `lab down` forgets the placements of the servers whose lab dockerd it took down (their containers go
 * with it), and only those: the lab itself is mocked, the state database is real.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { LabDownResult } from '../../src/lib/lab/lab.js';
import { openState } from '../../src/lib/state/index.js';

const lab = vi.hoisted(() => ({ namespaces: [] as string[] }));
vi.mock('../../src/lib/lab/lab.js', () => ({
  labDown: async (): Promise<LabDownResult> => ({
    testbed: 'paper-fig3',
    namespaces: lab.namespaces,
    processesKilled: 0,
    unmounted: 0,
    purged: false,
  }),
}));
const { default: LabDown } = await import('../../src/commands/lab/down.js');

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const hostsFile = join(ROOT, 'hosts.yml');
const dir = mkdtempSync(join(tmpdir(), 'edgectl-lab-down-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const placed = (user: string, host: string) => ({
  user,
  service: 'simple',
  host,
  container: `edgectl-paper-fig3-${user}`,
  containerId: `id-${user}`,
  address: '198.18.1.11',
  port: 20000,
  sinceMs: 1000,
});

let stateFile = '';
let n = 0;
beforeEach(() => {
  stateFile = join(dir, `state-${++n}.db`);
  const s = openState(stateFile);
  s.placements.set(placed('mu1', 'edge1'), 'deployed');
  s.placements.set(placed('mu2', 'edge2'), 'deployed');
  s.close();
});

async function down(): Promise<{ placementsForgotten: number }> {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    return (await LabDown.run(['-f', hostsFile, '--state', stateFile, '--json'], ROOT)) as {
      placementsForgotten: number;
    };
  } finally {
    vi.restoreAllMocks();
  }
}

describe('lab down and the state database', () => {
  it('forgets the placements on the servers whose namespace it removed, keeping them in the history', async () => {
    lab.namespaces = ['edgectl.paper-fig3', 'edgectl.paper-fig3.edge1', 'edgectl.paper-fig3.ap1'];
    const result = await down();
    expect(result.placementsForgotten).toBe(1);
    const s = openState(stateFile);
    expect(s.placements.list().map((p) => p.user)).toEqual(['mu2']);
    expect(s.placements.history('mu1').map((h) => [h.host, h.reason])).toEqual([['edge1', 'lab down']]);
    s.close();
  });

  it('forgets every lab server’s placements when the whole lab goes, and nothing when it was not up', async () => {
    lab.namespaces = [];
    expect((await down()).placementsForgotten).toBe(0);
    lab.namespaces = ['edgectl.paper-fig3', 'edgectl.paper-fig3.edge1', 'edgectl.paper-fig3.edge2'];
    expect((await down()).placementsForgotten).toBe(2);
    expect((await down()).placementsForgotten).toBe(0);
    const s = openState(stateFile);
    expect(s.placements.list()).toEqual([]);
    s.close();
  });
});
