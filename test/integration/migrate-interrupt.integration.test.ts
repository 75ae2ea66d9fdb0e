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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { phasesOf } from '../../src/lib/migration/pipeline.js';
import { Mu1Lab } from '../helpers/mu1-migrations.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-interrupt-'));
const lab = new Mu1Lab(dir);

beforeAll(() => lab.setUp());

afterAll(async () => {
  await lab.tearDown();
  rmSync(dir, { recursive: true, force: true });
});

describe('Ctrl+C during migrate', () => {
  const phases = phasesOf('delta');
  const downAt = phases.indexOf('checkpoint');
  for (const [i, phase] of phases.entries()) {
    it(`at ${phase}: ${phase === 'cleanup' ? 'the move is finished' : i < downAt ? 'the destination is cleared, the service never stopped' : 'rolled back to the source'}`, async () => {
      const r = await lab.migrateAndSignal(phase, 'SIGINT');
      const { from, to } = r;
      const json = r.json!;
      // verify takes a few ms once the probe has seen the destination answer: a signal sent as it starts
      // can be handled only after it ended, when the move is committed (as during cleanup). Both outcomes
      // are right then; any other phase lasts long enough to be interrupted itself.
      const committed = phase === 'cleanup' || (phase === 'verify' && r.exitCode === 0);
      if (committed) {
        expect(r.exitCode, r.stderr).toBe(0);
        expect(json.warnings.join(' ')).toMatch(/interrupted once the service answered/);
        expect(lab.where()).toBe(to);
      } else {
        expect(r.exitCode, r.stderr).toBe(130);
        expect(json).toMatchObject({ status: 130, error: { code: 'INTERRUPTED' } });
        expect(json.error?.message).toMatch(new RegExp(`interrupted \\(SIGINT\\) after ${phase}`));
        expect((json.error?.details as { rolledBack?: boolean } | undefined)?.rolledBack).toBe(i >= downAt);
        expect(lab.where()).toBe(from);
      }
      expect(await lab.containers()).toEqual([lab.where()]);
      await lab.offloadContinues(2);
    });
  }
});
