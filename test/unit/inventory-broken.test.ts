/**
 * The corpus of broken hosts files: each test/fixtures/broken/NAME.yml states what is wrong with it in
 * header comments, one per expected problem:
 *   # expect: LINE:COLUMN PATH | MESSAGE FRAGMENT        (PATH "-" for none, e.g. a YAML syntax error)
 * and loading it must report exactly those problems, in that order.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/lib/errors.js';
import { InventoryError, loadInventory } from '../../src/lib/inventory/index.js';

const DIR = 'test/fixtures/broken';

interface Expectation {
  line: number;
  column: number;
  path: string;
  fragment: string;
}

function expectations(file: string): Expectation[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .flatMap((line) => {
      const match = /^# expect: (\d+):(\d+) (\S+) \| (.+)$/.exec(line);
      if (!match) return [];
      return [
        {
          line: Number(match[1]),
          column: Number(match[2]),
          path: match[3] === '-' ? '' : (match[3] ?? ''),
          fragment: match[4] ?? '',
        },
      ];
    });
}

async function loadError(file: string): Promise<InventoryError> {
  try {
    await loadInventory(file);
  } catch (err) {
    if (err instanceof InventoryError) return err;
    throw err;
  }
  throw new Error(`${file} loaded without error`);
}

const fixtures = readdirSync(DIR)
  .filter((name) => name.endsWith('.yml'))
  .sort();

describe('broken hosts files', () => {
  it('has a corpus of at least 20 files, each with its expectations', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(20);
    for (const name of fixtures) expect(expectations(path.join(DIR, name)), name).not.toHaveLength(0);
  });

  it.each(fixtures)('%s', async (name) => {
    const file = path.join(DIR, name);
    const wanted = expectations(file);
    const err = await loadError(file);
    expect(err.code).toBe('INVENTORY_INVALID');
    expect(err.exitCode).toBe(ExitCode.inventory);
    const got = err.issues.map((i) => ({ line: i.line, column: i.column, path: i.path, message: i.message }));
    expect(
      got.map((g) => `${g.line}:${g.column} ${g.path || '-'}`),
      err.message,
    ).toEqual(wanted.map((w) => `${w.line}:${w.column} ${w.path || '-'}`));
    wanted.forEach((w, i) => {
      expect(got[i]?.message, err.message).toContain(w.fragment);
    });
    // The message lists the same issues, one per line, as file:line:column: path: message.
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(wanted.length);
    err.issues.forEach((issue, i) => {
      expect(issue.file).toBe(file);
      const prefix =
        issue.path === ''
          ? `${file}:${issue.line}:${issue.column}: `
          : `${file}:${issue.line}:${issue.column}: ${issue.path}: `;
      expect(lines[i]).toBe(prefix + issue.message);
    });
  });
});
