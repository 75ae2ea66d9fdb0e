import { describe, expect, it } from 'vitest';
import { shellCommandLine, shellPrelude, takeFrame } from '../../src/lib/remote/shell.js';

const MARK = '@edgectl-abc-7';

function frame(code: number, out: string | Buffer, err: string | Buffer): Buffer {
  const o = Buffer.from(out);
  const e = Buffer.from(err);
  return Buffer.concat([Buffer.from(`${MARK} ${code} ${o.length} ${e.length}\n`), o, e]);
}

describe('remote shell framing', () => {
  it('takes one frame with its exit code, stdout and stderr', () => {
    const got = takeFrame(frame(3, 'out\n', 'err'), MARK);
    expect(got?.frame.code).toBe(3);
    expect(got?.frame.stdout.toString()).toBe('out\n');
    expect(got?.frame.stderr.toString()).toBe('err');
    expect(got?.rest.length).toBe(0);
  });

  it('waits for the whole frame, byte by byte', () => {
    const whole = frame(0, Buffer.from([0, 255, 10, 13]), 'x');
    for (let n = 0; n < whole.length; n++) expect(takeFrame(whole.subarray(0, n), MARK)).toBeUndefined();
    expect([...takeFrame(whole, MARK)!.frame.stdout]).toEqual([0, 255, 10, 13]);
  });

  it('leaves what follows the frame, and skips bytes before the header', () => {
    const buf = Buffer.concat([Buffer.from('noise'), frame(0, 'a', ''), Buffer.from('next')]);
    const got = takeFrame(buf, MARK)!;
    expect(got.frame.stdout.toString()).toBe('a');
    expect(got.rest.toString()).toBe('next');
  });

  it('does not take another command’s header for its own', () => {
    const other = Buffer.concat([Buffer.from('@edgectl-abc-70 0 1 0\n'), Buffer.from('z')]);
    expect(takeFrame(other, MARK)).toBeUndefined();
  });

  it('rejects a malformed header', () => {
    expect(() => takeFrame(Buffer.from(`${MARK} x 1\n`), MARK)).toThrow(/bad frame header/);
  });

  it('writes each command with stdin closed, output captured and a header after it', () => {
    const line = shellCommandLine("printf '%s' x", MARK);
    expect(line.endsWith('\n')).toBe(true);
    expect(line).toContain('</dev/null >"$D/o" 2>"$D/e"');
    expect(line).toContain(`printf '%s %d %d %d\\n' ${MARK} "$c"`);
    const fed = shellCommandLine('cat', MARK, Buffer.from("it's\n"));
    expect(fed).toContain(`printf '%s' '${Buffer.from("it's\n").toString('base64')}' | base64 -d >"$D/i"`);
    expect(fed).toContain('<"$D/i" >"$D/o"');
    expect(fed).toContain('rm -f "$D/i"');
    expect(shellPrelude()).toMatch(/mktemp -d/);
    expect(shellPrelude()).toMatch(/trap 'rm -rf "\$D"' EXIT/);
  });
});
