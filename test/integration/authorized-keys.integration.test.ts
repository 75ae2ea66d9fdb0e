/**
 * The provisioned authorized-keys line, applied by many hosts at once to one shared file (the local
 * lab's hosts, or homes on NFS): no host's line is lost. Real sh, flock and grep on this machine.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseInventory } from '../../src/lib/inventory/index.js';
import { testbedKeyMarker, trustUnits } from '../../src/lib/provision/plan.js';
import { LocalExecutor } from '../../src/lib/remote/local.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-authkeys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'authorized_keys');
const local = new LocalExecutor();
const hostsText = readFileSync('hosts.yml', 'utf8');

/** The apply command of the "authorized key" unit of testbed tb<i>, for a file that lacks its line. */
function applyFor(i: number) {
  const inv = parseInventory(hostsText.replace(/^testbed: .*$/m, `testbed: tb${i}`), 'hosts.yml');
  const unit = trustUnits(inv, { privateKey: '', publicKey: `ssh-ed25519 AAAAKEY${i}`, knownHosts: '' }).find(
    (u) => u.id === 'authorized key',
  )!;
  const [apply] = unit.decide(['0 0']).apply;
  return { argv: apply!.argv, marker: testbedKeyMarker(inv) };
}

describe('the authorized key of many testbeds written to one file at once', () => {
  it('keeps every line, exactly once, however the writers interleave', async () => {
    const writers = Array.from({ length: 12 }, (_, i) => applyFor(i));
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(
        writers.map((w) => local.run(w.argv, { env: { EDGECTL_AUTHORIZED_KEYS: file } })),
      );
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(writers.length);
      for (const w of writers) expect(lines.filter((l) => l.endsWith(` ${w.marker}`))).toHaveLength(1);
    }
  });
});
