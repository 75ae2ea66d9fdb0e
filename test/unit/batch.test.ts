import { describe, expect, it } from 'vitest';
import { runBatch } from '../../src/lib/remote/batch.js';
import { LocalExecutor } from '../../src/lib/remote/local.js';

describe('runBatch', () => {
  it('returns each command’s stdout and exit code, in order, from one shell', async () => {
    const results = await runBatch(new LocalExecutor(), [
      ['printf', '%s', 'no newline'],
      ['sh', '-c', 'echo "two\nlines"; echo err >&2; exit 3'],
      ['printf', ''],
      ['echo', "it's $(quoted)"],
      ['false'],
    ]);
    expect(results).toEqual([
      { code: 0, stdout: 'no newline' },
      { code: 3, stdout: 'two\nlines\n' },
      { code: 0, stdout: '' },
      { code: 0, stdout: "it's $(quoted)\n" },
      { code: 1, stdout: '' },
    ]);
  });
});
