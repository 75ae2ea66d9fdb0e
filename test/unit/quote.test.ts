import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { shellJoin, shellQuote } from '../../src/lib/remote/quote.js';

describe('shellQuote', () => {
  it('leaves plain words alone', () => {
    expect(shellQuote('tc')).toBe('tc');
    expect(shellQuote('198.18.0.10/24')).toBe('198.18.0.10/24');
    expect(shellQuote('--data-root=/var/lib/x')).toBe('--data-root=/var/lib/x');
  });

  it('quotes empty strings and shell syntax', () => {
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('$(id)')).toBe("'$(id)'");
    expect(shellQuote('~')).toBe("'~'");
  });

  it('round-trips through a real shell byte for byte', () => {
    const args = ["it's", '$(id)', '`id`', 'a;b', 'x\ny', '"', "''", '\\', '*?[a]', '#c', '!', ' lead', 'ü'];
    const out = execFileSync('sh', ['-c', `printf '%s\\0' ${shellJoin(args)}`]).toString();
    expect(out.split('\0').slice(0, -1)).toEqual(args);
  });
});
