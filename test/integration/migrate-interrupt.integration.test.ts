/**
 * Ctrl+C during `edgectl migrate`, at every phase of a delta migration: SIGINT to the CLI when the phase
 * starts (as --verbose announces it). Before the final checkpoint, what the destination got is removed
 * and the service never stopped; after it, the service is restored on the source, as for a failed phase;
 * during cleanup, the move is finished. Either way the service answers with its counter continuous, and
 * exactly one container of it exists.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containerName } from '../../src/lib/docker/owner.js';
import type { Envelope } from '../../src/lib/envelope.js';
import { getHost, type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { type MigrationResult, phasesOf } from '../../src/lib/migration/pipeline.js';
import type { OffloadResult } from '../../src/lib/mu/offload.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { openState } from '../../src/lib/state/index.js';
import { edgectl, repoRoot } from '../helpers/cli.js';
import { hostsFile, writeVariantInventory } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-interrupt-'));
const stateFile = join(dir, 'state.db');
const file = join(dir, 'hosts.yml');
const pool = new SshPool();
const servers = ['cloud', 'edge1', 'edge2', 'edge3'];
let inv: Inventory;
let counter = 0;

function cli<T>(args: string[]) {
  return edgectl<T>([...args, '-f', file, '--state', stateFile, '--json'], { timeoutMs: 300_000 });
}

function where(): string | undefined {
  const s = openState(stateFile);
  try {
    return s.placements.get('mu1')?.host;
  } finally {
    s.close();
  }
}

async function offloadContinues(count: number): Promise<void> {
  const r = await cli<OffloadResult>([
    'offload',
    '--user',
    'mu1',
    '--count',
    String(count),
    '--timeout-ms',
    '20000',
  ]);
  expect(r.exitCode, r.stderr).toBe(0);
  expect(r.json?.result?.tasks.map((t) => t.counter)).toEqual(
    Array.from({ length: count }, (_, i) => counter + 1 + i),
  );
  counter += count;
}

/** Where a container of mu1's service exists (running or not), over every server's dockerd. */
async function containers(): Promise<string[]> {
  const name = containerName(inv, 'mu1');
  const found = await Promise.all(
    servers.map(async (s) => {
      const r = await pool
        .executor(getHost(inv, s))
        .run(['docker', 'ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Names}}']);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.trim() === name ? [s] : [];
    }),
  );
  return found.flat();
}

/** Runs `migrate` and sends SIGINT once the phase has started. */
async function interruptAt(phase: string, to: string) {
  const child = execa(
    process.execPath,
    [
      `${repoRoot}bin/run.js`,
      'migrate',
      '--user',
      'mu1',
      '--to',
      to,
      '-f',
      file,
      '--state',
      stateFile,
      '--json',
      '--verbose',
    ],
    { reject: false, env: { NO_COLOR: '1' }, timeout: 300_000 },
  );
  let sent = false;
  child.stderr?.on('data', (d: Buffer) => {
    if (!sent && d.toString().includes(`[migrate] ${phase} started`)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  const r = await child;
  expect(sent, `${phase} never started:\n${r.stderr}`).toBe(true);
  return {
    exitCode: r.exitCode,
    stderr: String(r.stderr),
    json: JSON.parse(String(r.stdout)) as Envelope<MigrationResult>,
  };
}

beforeAll(async () => {
  writeVariantInventory(file, () => {});
  inv = await loadInventory(file);
  expect((await cli(['provision'])).exitCode).toBe(0);
  await cli(['undeploy', '--user', 'mu1']);
  expect((await cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge1'])).exitCode).toBe(0);
  counter = 0;
  await offloadContinues(2);
});

afterAll(async () => {
  await cli(['undeploy', '--user', 'mu1']).catch(() => {});
  await edgectl(['provision', '-f', hostsFile, '--json']);
  await pool.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('Ctrl+C during migrate', () => {
  const phases = phasesOf('delta');
  const downAt = phases.indexOf('checkpoint');
  for (const [i, phase] of phases.entries()) {
    it(`at ${phase}: ${phase === 'cleanup' ? 'the move is finished' : i < downAt ? 'the destination is cleared, the service never stopped' : 'rolled back to the source'}`, async () => {
      const from = where()!;
      const to = from === 'edge1' ? 'edge2' : 'edge1';
      const r = await interruptAt(phase, to);
      // verify takes a few ms once the probe has seen the destination answer: a signal sent as it starts
      // can be handled only after it ended, when the move is committed (as during cleanup). Both outcomes
      // are right then; any other phase lasts long enough to be interrupted itself.
      const committed = phase === 'cleanup' || (phase === 'verify' && r.exitCode === 0);
      if (committed) {
        expect(r.exitCode, r.stderr).toBe(0);
        expect(r.json.warnings.join(' ')).toMatch(/interrupted once the service answered/);
        expect(where()).toBe(to);
      } else {
        expect(r.exitCode, r.stderr).toBe(130);
        expect(r.json).toMatchObject({ status: 130, error: { code: 'INTERRUPTED' } });
        expect(r.json.error?.message).toMatch(new RegExp(`interrupted \\(SIGINT\\) after ${phase}`));
        expect((r.json.error?.details as { rolledBack?: boolean } | undefined)?.rolledBack).toBe(i >= downAt);
        expect(where()).toBe(from);
      }
      expect(await containers()).toEqual([where()]);
      await offloadContinues(2);
    });
  }
});
