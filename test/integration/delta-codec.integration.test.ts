/**
 * The delta codec's scripts on this machine (real xdelta3, no Docker): a later snapshot rebuilt from an
 * earlier one and the delta is byte for byte the later one; a corrupt delta is refused.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deltaArgv, manifestArgv, patchArgv } from '../../src/lib/migration/commands.js';
import { LocalExecutor } from '../../src/lib/remote/local.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-codec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const local = new LocalExecutor();

function snapshots(): { pre: string; final: string } {
  const pre = join(dir, 'pre');
  const final = join(dir, 'final');
  for (const d of [pre, final]) mkdirSync(join(d, 'criu'), { recursive: true });
  const pages = randomBytes(4 * 1024 * 1024);
  writeFileSync(join(pre, 'criu', 'pages-1.img'), pages);
  writeFileSync(join(pre, 'criu', 'core-1.img'), 'core v1');
  writeFileSync(join(pre, 'rootfs.tar'), 'files v1');
  writeFileSync(join(pre, 'criu', 'gone.img'), 'only in the earlier one');
  const changed = Buffer.from(pages);
  for (const at of [4096 * 7, 4096 * 300, 4096 * 900]) randomBytes(4096).copy(changed, at);
  writeFileSync(join(final, 'criu', 'pages-1.img'), changed);
  writeFileSync(join(final, 'criu', 'core-1.img'), 'core v1');
  writeFileSync(join(final, 'criu', 'new-file.img'), 'only in the final one');
  mkdirSync(join(final, 'criu', 'sub'));
  writeFileSync(join(final, 'criu', 'sub', 'deeper.img'), 'in a new directory');
  writeFileSync(join(final, 'rootfs.tar'), 'files v2, longer');
  return { pre, final };
}

describe('the xdelta3 delta codec', () => {
  const { pre, final } = snapshots();
  const delta = join(dir, 'delta');

  it('encodes only what changed, and rebuilds the later snapshot exactly (new, changed and removed files)', async () => {
    const d = await local.run(deltaArgv(pre, final, delta));
    expect(d.code, d.stderr).toBe(0);
    expect(Number(d.stdout.trim())).toBeLessThan(64 * 1024);
    expect(readFileSync(join(delta, 'MANIFEST'), 'utf8').trim().split('\n').sort()).toEqual(
      [
        'full ./criu/new-file.img',
        'full ./criu/sub/deeper.img',
        'same ./criu/core-1.img',
        'vcdiff ./criu/pages-1.img',
        'vcdiff ./rootfs.tar',
      ].sort(),
    );
    const rebuilt = join(dir, 'rebuilt');
    const p = await local.run(patchArgv(pre, delta, rebuilt));
    expect(p.code, p.stderr).toBe(0);
    expect((await local.run(manifestArgv(rebuilt))).stdout).toBe(
      (await local.run(manifestArgv(final))).stdout,
    );
  });

  it('refuses a corrupt delta', async () => {
    const vcdiff = join(delta, 'criu', 'pages-1.img.vcdiff');
    const bytes = readFileSync(vcdiff);
    randomBytes(bytes.length - Math.floor(bytes.length / 2)).copy(bytes, Math.floor(bytes.length / 2));
    writeFileSync(vcdiff, bytes);
    expect(statSync(vcdiff).size).toBe(bytes.length);
    const p = await local.run(patchArgv(pre, delta, join(dir, 'rebuilt2')));
    expect(p.code).not.toBe(0);
  });
});
