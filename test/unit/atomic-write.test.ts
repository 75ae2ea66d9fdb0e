import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/lib/util/atomic-write.js';

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), 'edgectl-atomic-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('replaces a file whole and leaves no temporary file', async () => {
    const d = scratch();
    const f = join(d, 'meta.json');
    writeFileSync(f, 'old\n');
    await writeFileAtomic(f, 'new\n');
    expect(readFileSync(f, 'utf8')).toBe('new\n');
    await writeFileAtomic(f, Buffer.from([1, 2, 3]));
    expect([...readFileSync(f)]).toEqual([1, 2, 3]);
    expect(readdirSync(d)).toEqual(['meta.json']);
  });

  it('keeps the old file when the writing fails half way, and removes its temporary file', async () => {
    const d = scratch();
    const f = join(d, 'tasks.csv');
    writeFileSync(f, 'run,t_ms\na,1\n');
    function* halfThenFail() {
      yield 'run,t_ms\n';
      throw new Error('disk full');
    }
    await expect(writeFileAtomic(f, halfThenFail())).rejects.toThrow('disk full');
    expect(readFileSync(f, 'utf8')).toBe('run,t_ms\na,1\n');
    expect(readdirSync(d)).toEqual(['tasks.csv']);
  });

  it('creates a new file with the mode asked for', async () => {
    const d = scratch();
    const f = join(d, 'private');
    await writeFileAtomic(f, 'x', { mode: 0o600 });
    expect(statSync(f).mode & 0o777).toBe(0o600);
  });
});
