import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Inventory } from '../../src/lib/inventory/index.js';
import type { ProvisionInterrupted, ProvisionResult } from '../../src/lib/provision/provision.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { edgectl } from '../helpers/cli.js';
import { edgectlInterrupted } from '../helpers/interrupt.js';
import { hostsFile, labInventory } from '../helpers/lab.js';
import { netSnapshot } from '../helpers/net.js';

const pool = new SshPool();
let inv: Inventory;
/** Every host as no provisioning left it. */
let pristine: Map<string, string>;

async function snapshots(): Promise<Map<string, string>> {
  const all = await Promise.all(
    inv.hosts.map(async (h) => [h.name, await netSnapshot(pool.executor(h))] as const),
  );
  return new Map(all);
}

function provisionCli(...args: string[]) {
  return edgectl<ProvisionResult>(['provision', '-f', hostsFile, '--json', ...args]);
}

/** The hosts a dry run (of `args`) would still change. */
async function pending(...args: string[]): Promise<string[]> {
  const dry = await provisionCli('--dry-run', ...args);
  expect(dry.exitCode, dry.stderr).toBe(0);
  return (dry.json?.result?.hosts ?? []).filter((h) => h.changed).map((h) => h.name);
}

/**
 * Runs provision (with `args`), interrupted when stderr matches `when`; checks the exit code and the
 * envelope, then every host: one the run finished needs nothing more (a dry run changes nothing there),
 * one it left untouched is exactly as `before`.
 */
async function interruptAndCheck(when: RegExp, before: Map<string, string>, ...args: string[]) {
  const run = await edgectlInterrupted<never>(
    ['provision', '-f', hostsFile, '--json', '--verbose', ...args],
    when,
  );
  expect(run.sent, run.stderr).toBe(true);
  expect(run.exitCode, run.stderr).toBe(130);
  expect(run.json?.status).toBe(130);
  expect(run.json?.error?.code).toBe('INTERRUPTED');
  const details = run.json?.error?.details as ProvisionInterrupted;
  expect(details.failed).toEqual([]);
  expect([...details.finished, ...details.untouched].sort()).toEqual(inv.hosts.map((h) => h.name).sort());
  expect(run.json?.error?.message).toContain(
    `untouched by this run: ${details.untouched.join(', ') || 'none'}`,
  );
  expect(run.stderr).toContain('SIGINT: stopping');

  const after = await snapshots();
  const stillPending = await pending(...args);
  for (const h of inv.hosts) {
    if (details.finished.includes(h.name))
      expect(stillPending, `${h.name} was finished`).not.toContain(h.name);
    else expect(after.get(h.name), `${h.name} was untouched`).toBe(before.get(h.name));
  }
  return details;
}

async function resetAll(): Promise<void> {
  const r = await provisionCli('--reset');
  expect(r.exitCode, r.stderr).toBe(0);
}

beforeAll(async () => {
  ({ inv } = await labInventory());
  await resetAll();
  pristine = await snapshots();
});

afterAll(async () => {
  // Leave the lab as no provisioning touched it, as the other files expect to find it.
  await provisionCli('--reset');
  await pool.closeAll();
});

describe('provision interrupted by Ctrl+C (SIGINT to its process group)', () => {
  it('right after it starts: every host untouched', async () => {
    const d = await interruptAndCheck(/Provisioning \d+ hosts/, pristine);
    process.stderr.write(`interrupted at start: finished [${d.finished}], untouched [${d.untouched}]\n`);
    expect(d.untouched.length).toBeGreaterThan(0);
    await resetAll();
  });

  it("when the first host has read its state (others' changes under way): no host half done", async () => {
    const d = await interruptAndCheck(/@@edgectl-batch[\s\S]*? -> \d+ \(\d+ ms\)/, pristine);
    process.stderr.write(`interrupted after a probe: finished [${d.finished}], untouched [${d.untouched}]\n`);
    await resetAll();
  });

  it('when the first host is finished: no host half done, and a second run finishes the rest', async () => {
    const d = await interruptAndCheck(/^\w+: \d+ commands$/m, pristine);
    process.stderr.write(`interrupted after a host: finished [${d.finished}], untouched [${d.untouched}]\n`);
    expect(d.finished.length).toBeGreaterThan(0);
    const again = await provisionCli();
    expect(again.exitCode, again.stderr).toBe(0);
    for (const h of again.json?.result?.hosts ?? [])
      expect([h.name, h.changed]).toEqual([h.name, !d.finished.includes(h.name)]);
  });

  it('a reset interrupted when its first host is done: each host reset completely or still provisioned', async () => {
    expect(await pending()).toEqual([]);
    const provisioned = await snapshots();
    const d = await interruptAndCheck(/^\w+: \d+ commands$/m, provisioned, '--reset');
    process.stderr.write(`reset interrupted: finished [${d.finished}], untouched [${d.untouched}]\n`);
    expect(d.finished.length).toBeGreaterThan(0);
    await resetAll();
    const after = await snapshots();
    for (const h of inv.hosts) expect(after.get(h.name), h.name).toBe(pristine.get(h.name));
  });
});
