/**
 * `edgectl experiment compare` on the built CLI (npm run build first), as a user runs it: two synthetic
 * results directories, the envelope on stdout, the files in --out, the human output naming them; a
 * directory that is not a results directory fails with exit 2 and its name.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CompareResult } from '../../src/lib/experiment/compare-write.js';
import { writeFixture } from '../fixtures/results/generate.js';
import { assertBuilt } from '../helpers/built.js';
import { edgectl } from '../helpers/cli.js';

let tmp: string;
beforeAll(async () => {
  assertBuilt();
  tmp = await mkdtemp(join(tmpdir(), 'edgectl-cli-compare-'));
  await writeFixture(join(tmp, 'one'), { planners: ['nearest', 'orchestrated'] });
  await writeFixture(join(tmp, 'two'), { planners: ['nearest', 'orchestrated'], repeats: 3 });
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('edgectl experiment compare (built)', () => {
  it('--json: one envelope with the differences; the files in --out', async () => {
    const out = join(tmp, 'out');
    const r = await edgectl<CompareResult>([
      'experiment',
      'compare',
      join(tmp, 'one'),
      join(tmp, 'two'),
      '--label',
      'before',
      '--label',
      'after',
      '--out',
      out,
      '--json',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.status).toBe(0);
    const result = r.json?.result;
    expect(result?.baseline).toBe('before');
    expect(result?.conditions.map((c) => [c.label, c.runs])).toEqual([
      ['before', 4],
      ['after', 6],
    ]);
    // Two planners, three metrics; both sides ran at least twice: over runs.
    expect(result?.differences).toHaveLength(6);
    expect(result?.differences.find((d) => d.metric === 'downtimeMs')?.method).toBe('repetitions');
    expect((await readdir(out)).sort()).toContain('compare.json');
    expect(result?.files).toHaveLength(3 + 3 * 4);
  });

  it('without --json: the files on stdout; a bad directory: exit 2 naming it', async () => {
    const out = join(tmp, 'out-human');
    const r = await edgectl(['experiment', 'compare', join(tmp, 'one'), join(tmp, 'two'), '--out', out]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toContain(join(out, 'compare.md'));
    expect(r.stdout).toMatch(/2 conditions against one: \d+ of 6 differences exclude zero at 95%/);
    const bad = await edgectl(['experiment', 'compare', join(tmp, 'one'), tmp, '--json']);
    expect(bad.exitCode).toBe(2);
    expect(bad.json?.status).toBe(2);
    expect(JSON.stringify(bad.json)).toContain(`${tmp} is not a results directory`);
  });
});
