/**
 * The delta codecs on this machine (real xdelta3 and edgectl-pages as the setup script installed it, no
 * Docker): a later snapshot rebuilt from an earlier one and the delta is byte for byte the later one; a
 * corrupt delta is refused. Also where a restore finds the images: pages as links that lead back to them.
 */
import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  deltaArgv,
  manifestArgv,
  pagesDiffArgv,
  pagesPatchArgv,
  patchArgv,
  placeCheckpointArgv,
} from '../../src/lib/migration/commands.js';
import { PAGES_BIN } from '../../src/lib/migration/pages-source.js';
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

describe('the pages codec (edgectl-pages)', () => {
  const root = join(dir, 'pages');
  const pre = join(root, 'pre');
  const final = join(root, 'final');
  const delta = join(root, 'delta');
  mkdirSync(join(pre, 'criu'), { recursive: true });
  mkdirSync(join(final, 'criu', 'sub'), { recursive: true });
  // 4 MB of pages; the later dump has a new page at the front (every later page moves by a block), 20
  // pages with a few bytes changed, 10 pages new, and the tail not aligned to a block.
  const pages = randomBytes(1024 * 4096 + 100);
  const later = Buffer.concat([randomBytes(4096), pages]);
  for (let i = 0; i < 20; i++) randomBytes(16).copy(later, 4096 * (1 + i * 37) + 100);
  for (let i = 0; i < 10; i++) randomBytes(4096).copy(later, 4096 * (3 + i * 91));
  writeFileSync(join(pre, 'criu', 'pages-1.img'), pages);
  writeFileSync(join(final, 'criu', 'pages-1.img'), later);
  writeFileSync(join(pre, 'criu', 'core-1.img'), 'core v1');
  writeFileSync(join(final, 'criu', 'core-1.img'), 'core v1');
  writeFileSync(join(pre, 'criu', 'gone.img'), 'only in the earlier one');
  writeFileSync(join(final, 'criu', 'sub', 'new.img'), 'only in the later one');
  writeFileSync(join(pre, 'rootfs.tar'), 'files v1');
  writeFileSync(join(final, 'rootfs.tar'), 'files v2, longer');
  writeFileSync(join(final, 'criu', 'empty.img'), '');

  it('sends the moved pages as references and the changed bytes alone, and rebuilds the later snapshot exactly', async () => {
    const d = await local.run(pagesDiffArgv(PAGES_BIN, pre, final, delta));
    expect(d.code, d.stderr).toBe(0);
    // 11 whole new blocks (44 kB), 20 patched ones (tens of bytes each), the tail, the small files.
    const size = Number(d.stdout.trim());
    expect(size).toBeGreaterThan(11 * 4096);
    expect(size).toBeLessThan(11 * 4096 + 8 * 1024);
    expect(readFileSync(join(delta, 'MANIFEST'), 'utf8').trim().split('\n').sort()).toEqual(
      [
        'same criu/core-1.img',
        'blocks criu/empty.img',
        'blocks criu/pages-1.img',
        'blocks criu/sub/new.img',
        'blocks rootfs.tar',
      ].sort(),
    );
    const rebuilt = join(root, 'rebuilt');
    const p = await local.run(pagesPatchArgv(PAGES_BIN, pre, delta, rebuilt));
    expect(p.code, p.stderr).toBe(0);
    expect((await local.run(manifestArgv(rebuilt))).stdout).toBe(
      (await local.run(manifestArgv(final))).stdout,
    );
  });

  it('refuses a corrupt delta', async () => {
    const blocks = join(delta, 'criu', 'pages-1.img.blocks');
    const bytes = readFileSync(blocks);
    // A byte of the literal data changed: the records still parse, the rebuilt file's hash does not match.
    bytes[bytes.length - 50] = (bytes[bytes.length - 50]! + 1) % 256;
    writeFileSync(blocks, bytes);
    const p = await local.run(pagesPatchArgv(PAGES_BIN, pre, delta, join(root, 'rebuilt2')));
    expect(p.code).not.toBe(0);
    expect(p.stderr).toMatch(/hash mismatch/);
    // Cut short: refused too.
    writeFileSync(blocks, bytes.subarray(0, bytes.length - 10));
    const q = await local.run(pagesPatchArgv(PAGES_BIN, pre, delta, join(root, 'rebuilt3')));
    expect(q.code).not.toBe(0);
  });

  it('patches in place a file whose unchanged blocks stayed where they were: only the changes are written', async () => {
    const a = join(root, 'inplace-pre');
    const b = join(root, 'inplace-final');
    mkdirSync(a);
    mkdirSync(b);
    const before = randomBytes(256 * 4096);
    const after = Buffer.concat([before, randomBytes(3000)]);
    randomBytes(8).copy(after, 4096 * 10 + 5);
    randomBytes(4096).copy(after, 4096 * 100);
    writeFileSync(join(a, 'pages-1.img'), before);
    writeFileSync(join(b, 'pages-1.img'), after);
    const d = join(root, 'inplace-delta');
    expect((await local.run(pagesDiffArgv(PAGES_BIN, a, b, d))).code).toBe(0);
    const out = join(root, 'inplace-out');
    const p = await local.run(pagesPatchArgv(PAGES_BIN, a, d, out));
    expect(p.code, p.stderr).toBe(0);
    expect(readFileSync(join(out, 'pages-1.img')).equals(after)).toBe(true);
    // The earlier file itself became the later one (the same inode).
    expect(statSync(join(out, 'pages-1.img')).ino).toBe(statSync(join(a, 'pages-1.img')).ino);
  });

  it('places a checkpoint for Docker: small images linked hard, the pages as a relative link that leads back to them from any depth', async () => {
    const ckpt = join(root, 'docker', 'checkpoints', 'final');
    const r = await local.run(placeCheckpointArgv(join(final, 'criu'), ckpt));
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(join(ckpt, 'core-1.img')).ino).toBe(statSync(join(final, 'criu', 'core-1.img')).ino);
    const link = readlinkSync(join(ckpt, 'pages-1.img'));
    expect(link.startsWith('../../')).toBe(true);
    // As containerd unpacks it: somewhere else, at another depth; the link still reads the same pages.
    const elsewhere = join(dir, 'a', 'b');
    mkdirSync(elsewhere, { recursive: true });
    symlinkSync(link, join(elsewhere, 'pages-1.img'));
    expect(readFileSync(join(elsewhere, 'pages-1.img')).equals(later)).toBe(true);
  });
});
