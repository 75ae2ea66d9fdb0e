/**
 * docs/reference is generated (npm run readme): regenerated here from the built CLI into a temporary
 * directory, it must be the same, page for page. Run `npm run build && npm run readme` after changing a
 * command, its flags or its help.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../helpers/built.js';
import { repoRoot } from '../helpers/cli.js';

const committed = join(repoRoot, 'docs', 'reference');
const fresh = mkdtempSync(join(tmpdir(), 'edgectl-reference-'));
afterAll(() => rmSync(fresh, { recursive: true, force: true }));

// At collection time: the pages to compare are those generated.
assertBuilt();
execFileSync(process.execPath, [join(repoRoot, 'scripts', 'readme.mjs'), fresh], { stdio: 'pipe' });

describe('the command reference in docs/reference', () => {
  it('has a page for every topic and command, and no other', () => {
    // results.md is generated too, from the data dictionary (test/unit/experiment-data.test.ts).
    expect(
      readdirSync(committed)
        .filter((p) => p !== 'results.md')
        .sort(),
    ).toEqual(readdirSync(fresh).sort());
    // The user commands are there, the hidden plumbing is not.
    expect(readdirSync(committed)).toEqual(expect.arrayContaining(['plan.md', 'hosts.md', 'experiment.md']));
    expect(readdirSync(committed)).not.toContain('mu.md');
  });

  it.each(readdirSync(fresh).sort())('%s is up to date (npm run build && npm run readme)', (page) => {
    expect(readFileSync(join(committed, page), 'utf8')).toBe(readFileSync(join(fresh, page), 'utf8'));
  });
});
