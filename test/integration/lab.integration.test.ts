import { existsSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import type { ChecksReport } from '../../src/lib/hosts/check.js';
import type { LabStatus } from '../../src/lib/lab/lab.js';
import { edgectl, repoRoot } from '../helpers/cli.js';
import { hostsFile, labInventory, labTraces } from '../helpers/lab.js';

describe('the local lab on the repository hosts.yml', () => {
  it('every host is reachable over SSH with its host key verified, every server has docker experimental and a passing criu', async () => {
    const r = await edgectl<ChecksReport>(['hosts', 'check', '-f', hostsFile, '--json']);
    const report = r.json?.result;
    expect(report?.hosts).toHaveLength(8);
    for (const h of report?.hosts ?? []) {
      expect(h.reachable, `${h.name}: ${h.errors.join('; ')}`).toBe(true);
      expect(h.errors, h.name).toEqual([]);
      if (h.role === 'cloud' || h.role === 'edge') {
        expect(h.docker?.experimental, h.name).toBe(true);
        expect(h.criu?.ok, h.name).toBe(true);
        // The CPU score C_s, measured once with the bundled benchmark in a container there.
        expect(h.cpuScore, h.name).toBeGreaterThan(0);
      }
      // The mobile-user host runs edgectl (offload, the migration probe): its node and edgectl are checked.
      if (h.role === 'mu') {
        expect(h.node?.ok, h.name).toBe(true);
        expect(h.edgectl?.version, h.name).toMatch(/^\d+\.\d+\.\d+/);
      } else expect(h.edgectl, h.name).toBeNull();
    }
    expect(r.exitCode).toBe(0);
  });

  it('lab status reports every host running', async () => {
    const r = await edgectl<LabStatus>(['lab', 'status', '-f', hostsFile, '--json']);
    expect(r.exitCode).toBe(0);
    expect(r.json?.result?.up).toBe(true);
    expect(r.json?.result?.hosts.map((h) => [h.name, h.running])).toEqual([
      ['cloud', true],
      ['edge1', true],
      ['edge2', true],
      ['edge3', true],
      ['ap1', true],
      ['ap2', true],
      ['ap3', true],
      ['mu', true],
    ]);
  });

  it('lab up on a lab that is up changes nothing', async () => {
    const r = await edgectl<{ built: boolean }>(['lab', 'up', '-f', hostsFile, '--json']);
    expect(r.exitCode).toBe(0);
    expect(r.json?.result?.built).toBe(false);
  });
});

describe('lab lifecycle', () => {
  it('lab down leaves nothing of the lab; lab up after a killed lab up succeeds', async () => {
    const { plan } = await labInventory();
    // A provisioned host runs edgectl-delay: that goes too, with its files.
    const provisioned = await edgectl(['provision', '-f', hostsFile, '--host', 'edge1', '--json']);
    expect(provisioned.exitCode, provisioned.stderr).toBe(0);
    expect(existsSync(`/run/edgectl/delay/${plan.testbed}/edge1.pid`)).toBe(true);
    const down = await edgectl(['lab', 'down', '-f', hostsFile, '--json']);
    expect(down.exitCode).toBe(0);
    expect(labTraces(plan)).toEqual({ namespaces: [], link: false, processes: [], mounts: [] });
    expect(existsSync(`/run/edgectl/delay/${plan.testbed}`)).toBe(false);

    // Kill a lab up half-way (after its network exists, while its daemons start).
    const killed = execa(process.execPath, [`${repoRoot}bin/run.js`, 'lab', 'up', '-f', hostsFile], {
      reject: false,
      cwd: repoRoot,
    });
    let sawNetwork = false;
    killed.stderr?.on('data', (d: Buffer) => {
      if (!sawNetwork && d.toString().includes('✓ network')) {
        sawNetwork = true;
        killed.kill('SIGKILL');
      }
    });
    await killed;
    expect(sawNetwork).toBe(true);
    expect(labTraces(plan).namespaces.length).toBeGreaterThan(0);

    const up = await edgectl<LabStatus & { built: boolean }>(['lab', 'up', '-f', hostsFile, '--json']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.json?.result?.up).toBe(true);
    expect(up.json?.result?.built).toBe(true);
    const check = await edgectl<ChecksReport>(['hosts', 'check', '-f', hostsFile, '--json']);
    expect(check.exitCode).toBe(0);
  });
});
