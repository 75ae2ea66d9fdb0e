import { afterAll, describe, expect, it } from 'vitest';
import type { LabStatus } from '../../src/lib/lab/lab.js';
import { edgectl } from '../helpers/cli.js';
import { edgectlInterrupted } from '../helpers/interrupt.js';
import { hostsFile, labInventory, labTraces } from '../helpers/lab.js';

const nothing = { namespaces: [], link: false, processes: [], mounts: [] };

function labUpInterrupted(when: RegExp) {
  return edgectlInterrupted<never>(['lab', 'up', '-f', hostsFile, '--json'], when, { timeoutMs: 180_000 });
}

afterAll(async () => {
  // The other files of the tier expect the lab up, as the global setup left it.
  await edgectl(['lab', 'up', '-f', hostsFile], { timeoutMs: 300_000 });
});

describe('lab up interrupted by Ctrl+C (SIGINT to its process group, its children included)', () => {
  it('at each step of a build from nothing: exit 130, and nothing of the lab is left', async () => {
    const { plan } = await labInventory();
    const down = await edgectl(['lab', 'down', '-f', hostsFile, '--json']);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(labTraces(plan)).toEqual(nothing);
    // Just started; while the network is built (after the keys); while the daemons start; while the images load.
    for (const when of [/Building lab/, /✓ keys/, /✓ network/, /✓ daemons/]) {
      const r = await labUpInterrupted(when);
      expect(r.sent, `${when}: ${r.stderr}`).toBe(true);
      expect(r.exitCode, `${when}: ${r.stderr}`).toBe(130);
      expect(r.json?.status, String(when)).toBe(130);
      expect(r.json?.error?.code, String(when)).toBe('INTERRUPTED');
      expect(labTraces(plan), `${when}: ${r.stderr}`).toEqual(nothing);
      process.stderr.write(`lab up interrupted at ${when}: ${r.json?.error?.message}\n`);
    }
  });

  it('on a lab that is up: exit 130 and the lab stays up, its daemons untouched by the Ctrl+C', async () => {
    const { plan } = await labInventory();
    const up = await edgectl<LabStatus & { built: boolean }>(['lab', 'up', '-f', hostsFile, '--json'], {
      timeoutMs: 300_000,
    });
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.json?.result?.built).toBe(true);
    const r = await labUpInterrupted(/✓ keys/);
    expect(r.exitCode, r.stderr).toBe(130);
    expect(r.json?.error?.code).toBe('INTERRUPTED');
    const status = await edgectl<LabStatus>(['lab', 'status', '-f', hostsFile, '--json']);
    expect(status.json?.result?.up, status.stdout).toBe(true);

    const again = await edgectl(['lab', 'down', '-f', hostsFile, '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(labTraces(plan)).toEqual(nothing);
  });
});
