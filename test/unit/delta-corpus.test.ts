/**
 * The other codecs' patch at the destination, and the placing of a snapshot, against what a source could
 * send instead of a delta, run for real on this machine (sh, xdelta3, rsync): each crafted delta is
 * refused with a message, and nothing outside the output changes (a sentinel directory beside it, the
 * earlier snapshot and the delta are compared before and after). The page codec's corpus is
 * pages-corpus.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  deltaArgv,
  manifestArgv,
  patchArgv,
  placeSnapshotArgv,
  rsyncBatchArgv,
  rsyncPatchArgv,
} from '../../src/lib/migration/commands.js';

const work = mkdtempSync(join(tmpdir(), 'edgectl-delta-corpus-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(argv: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Everything under `dir` but `skip`: each entry's type, mode, and content (or link target). */
function tree(dir: string, skip: string[]): string[] {
  const lines: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (skip.includes(p)) continue;
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) lines.push(`${p} link ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        lines.push(`${p} dir ${mode}`);
        walk(p);
      } else if (st.isFile())
        lines.push(`${p} file ${mode} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
      else lines.push(`${p} other ${mode}`);
    }
  };
  walk(dir);
  return lines;
}

interface World {
  root: string;
  pre: string;
  final: string;
  delta: string;
  out: string;
  sentinel: string;
}

let worlds = 0;
/** Two snapshots (a changed, a new, an unchanged and a removed file), a sentinel directory beside them. */
function world(): World {
  const root = join(work, `w${worlds++}`);
  const w = {
    root,
    pre: join(root, 'pre'),
    final: join(root, 'final'),
    delta: join(root, 'delta'),
    out: join(root, 'out'),
    sentinel: join(root, 'sentinel'),
  };
  const pages = Buffer.alloc(64 * 1024, 5);
  const later = Buffer.from(pages);
  later.write('changed', 20_000);
  const files: [string, string, Buffer | string][] = [
    [w.pre, 'criu/pages-1.img', pages],
    [w.pre, 'criu/core-1.img', 'core v1'],
    [w.pre, 'criu/gone.img', 'only in the earlier one'],
    [w.pre, 'rootfs.tar', 'files v1'],
    [w.final, 'criu/pages-1.img', later],
    [w.final, 'criu/core-1.img', 'core v1'],
    [w.final, 'criu/new.img', 'only in the later one'],
    [w.final, 'rootfs.tar', 'files v2, longer'],
    [w.sentinel, 'target', 'the sentinel'],
    [w.sentinel, 'criu/pages-1.img', pages],
    [w.sentinel, 'criu/core-1.img', 'core v1'],
  ];
  for (const [dir, name, data] of files) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), data);
  }
  return w;
}

/** A world with the xdelta3 codec's delta of `final` against `pre` in `delta`. */
function xdelta3World(): World {
  const w = world();
  const d = run(deltaArgv(w.pre, w.final, w.delta));
  expect(d.code, d.stderr).toBe(0);
  return w;
}

const manifestOf = (w: World) => readFileSync(join(w.delta, 'MANIFEST'), 'utf8');
const setManifest = (w: World, text: string | Buffer) => writeFileSync(join(w.delta, 'MANIFEST'), text);

/** Runs `argv`, which must fail with `message`, with nothing outside `out` changed. */
function refused(w: World, argv: string[], message: RegExp, changes: string[] = [w.out]): void {
  const before = tree(w.root, changes);
  const r = run(argv);
  expect(r.code, r.stderr).not.toBe(0);
  expect(r.stderr).toMatch(message);
  expect(tree(w.root, changes)).toEqual(before);
}

describe('the xdelta3 codec’s patch script', () => {
  it('rebuilds a valid delta exactly (the worlds below are sound), private files in private directories', () => {
    const w = xdelta3World();
    const p = run(patchArgv(w.pre, w.delta, w.out));
    expect(p.code, p.stderr).toBe(0);
    expect(run(manifestArgv(w.out)).stdout).toBe(run(manifestArgv(w.final)).stdout);
    expect(lstatSync(join(w.out, 'criu', 'new.img')).mode & 0o777).toBe(0o600);
    expect(lstatSync(join(w.out, 'criu', 'pages-1.img')).mode & 0o777).toBe(0o600);
    for (const f of ['MANIFEST', 'criu/pages-1.img.vcdiff'])
      expect(lstatSync(join(w.delta, f)).mode & 0o777, f).toBe(0o600);
    expect(lstatSync(join(w.delta, 'criu')).mode & 0o777).toBe(0o700);
  });

  const BAD_LINE = /refused: a bad line in MANIFEST/;
  const cases: { name: string; setUp: (w: World) => void; message: RegExp }[] = [
    {
      name: 'a ".." name for a new file (written into the sentinel)',
      setUp: (w) => {
        writeFileSync(join(w.delta, 'pwned.full'), 'pwned');
        setManifest(w, `${manifestOf(w)}full ./../sentinel/pwned\n`);
      },
      message: BAD_LINE,
    },
    {
      name: 'a ".." name for a changed file (the sentinel removed, then decoded over)',
      setUp: (w) => setManifest(w, `vcdiff ./../sentinel/target\n${manifestOf(w)}`),
      message: BAD_LINE,
    },
    {
      name: 'an absolute name',
      setUp: (w) => setManifest(w, `full ${w.sentinel}/pwned\n`),
      message: BAD_LINE,
    },
    {
      name: 'a name starting with "-"',
      setUp: (w) => setManifest(w, 'full ./-rf\n'),
      message: BAD_LINE,
    },
    {
      name: 'a component starting with "-"',
      setUp: (w) => setManifest(w, 'same ./criu/--help\n'),
      message: BAD_LINE,
    },
    {
      name: 'an empty component',
      setUp: (w) => setManifest(w, 'same ./criu//core-1.img\n'),
      message: BAD_LINE,
    },
    {
      name: 'a "." component',
      setUp: (w) => setManifest(w, 'same ./criu/./core-1.img\n'),
      message: BAD_LINE,
    },
    {
      name: 'a control character (shown as "?")',
      setUp: (w) => setManifest(w, 'full ./a\x1b[2Jb\n'),
      message: /a bad line in MANIFEST: full \.\/a\?\[2Jb/,
    },
    {
      name: 'an unknown kind of line',
      setUp: (w) => setManifest(w, 'copy ./criu/core-1.img\n'),
      message: BAD_LINE,
    },
    {
      name: 'a line without a name',
      setUp: (w) => setManifest(w, 'same\n'),
      message: BAD_LINE,
    },
    {
      name: 'MANIFEST cut short',
      setUp: (w) => setManifest(w, manifestOf(w).slice(0, -3)),
      message: /MANIFEST is missing or cut short/,
    },
    {
      name: 'MANIFEST missing',
      setUp: (w) => rmSync(join(w.delta, 'MANIFEST')),
      message: /MANIFEST is missing or cut short/,
    },
    {
      name: '"same" for a file the earlier snapshot does not have',
      setUp: (w) => setManifest(w, 'same ./criu/other.img\n'),
      message: /says \.\/criu\/other\.img is unchanged, but the earlier snapshot has no such file/,
    },
    {
      name: 'a file of the delta that is a symbolic link out of it',
      setUp: (w) => {
        rmSync(join(w.delta, 'criu', 'new.img.full'));
        symlinkSync(join(w.sentinel, 'target'), join(w.delta, 'criu', 'new.img.full'));
      },
      message: /refused: .*delta\/criu\/new\.img\.full is not a regular file or directory/,
    },
    {
      name: 'a directory of the delta that is a symbolic link out of it',
      setUp: (w) => {
        rmSync(join(w.delta, 'criu'), { recursive: true });
        symlinkSync(join(w.sentinel, 'criu'), join(w.delta, 'criu'));
      },
      message: /refused: .*delta\/criu is not a regular file or directory/,
    },
    {
      name: 'a directory of the earlier snapshot that is a symbolic link (the sentinel’s file removed and decoded over)',
      setUp: (w) => {
        rmSync(join(w.pre, 'criu'), { recursive: true });
        symlinkSync(join(w.sentinel, 'criu'), join(w.pre, 'criu'));
      },
      message: /refused: .*pre\/criu is not a regular file or directory/,
    },
    {
      name: 'a file of the earlier snapshot that is a symbolic link (read, and kept as a link in the output)',
      setUp: (w) => {
        rmSync(join(w.pre, 'criu', 'core-1.img'));
        symlinkSync(join(w.sentinel, 'target'), join(w.pre, 'criu', 'core-1.img'));
      },
      message: /refused: .*pre\/criu\/core-1\.img is not a regular file or directory/,
    },
    {
      name: 'a FIFO in the earlier snapshot',
      setUp: (w) => {
        expect(run(['mkfifo', join(w.pre, 'criu', 'fifo')]).code).toBe(0);
      },
      message: /refused: .*pre\/criu\/fifo is not a regular file or directory/,
    },
    {
      name: 'an encoded difference cut short (xdelta3 itself)',
      setUp: (w) => {
        const vcdiff = join(w.delta, 'criu', 'pages-1.img.vcdiff');
        writeFileSync(vcdiff, readFileSync(vcdiff).subarray(0, 20));
      },
      message: /xdelta3: /,
    },
    {
      name: 'an encoded difference of garbage (xdelta3 itself)',
      setUp: (w) => writeFileSync(join(w.delta, 'criu', 'pages-1.img.vcdiff'), Buffer.alloc(4096, 0xff)),
      message: /xdelta3: /,
    },
    {
      name: 'a newline in a name of the earlier snapshot (removal reads names a line at a time)',
      setUp: (w) => writeFileSync(join(w.pre, 'criu', 'a\n..'), 'x'),
      message: /refused: a name with a control character: .*pre\/criu\/a\?\.\./,
    },
  ];

  it('replaces an output that is a symbolic link, not what it points to', () => {
    const w = xdelta3World();
    symlinkSync(w.sentinel, w.out);
    const before = tree(w.sentinel, []);
    const p = run(patchArgv(w.pre, w.delta, w.out));
    expect(p.code, p.stderr).toBe(0);
    expect(lstatSync(w.out).isDirectory()).toBe(true);
    expect(tree(w.sentinel, [])).toEqual(before);
  });

  it.each(cases.map((c) => [c.name, c] as const))('refuses %s', (_name, c) => {
    const w = xdelta3World();
    c.setUp(w);
    refused(w, patchArgv(w.pre, w.delta, w.out), c.message);
    // Refused before anything was written, but for what is seen only while patching.
    if (!/unchanged|xdelta3/.test(c.message.source)) expect(existsSync(w.out)).toBe(false);
  });
});

/** An rsync batch of `final` against `pre` (the source's side), with fixed times: the same bytes each run. */
function rsyncWorld(edit: (w: World) => void = () => {}): World {
  const w = world();
  edit(w);
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (lstatSync(p).isDirectory()) walk(p);
      if (!lstatSync(p).isSymbolicLink()) utimesSync(p, 1_700_000_000, 1_700_000_000);
    }
  };
  for (const d of [w.pre, w.final]) walk(d);
  const r = run(rsyncBatchArgv(w.pre, w.final, w.delta));
  expect(r.code, r.stderr).toBe(0);
  return w;
}

/** The batch with a name's bytes replaced (the same length: rsync's file list holds names as they are). */
function rewriteBatch(w: World, from: string, to: string): void {
  expect(to.length).toBe(from.length);
  const path = join(w.delta, 'batch');
  const batch = readFileSync(path);
  let found = 0;
  for (let at = batch.indexOf(from); at >= 0; at = batch.indexOf(from, at + 1), found++)
    Buffer.from(to).copy(batch, at);
  expect(found).toBeGreaterThan(0);
  writeFileSync(path, batch);
}

describe('the rsync codec’s patch', () => {
  // rsync's receiver checks the names of a batch's file list as it does a sender's.
  it('refuses a ".." component in a batch (rsync itself)', () => {
    const w = rsyncWorld((w) => {
      mkdirSync(join(w.final, 'zz'));
      writeFileSync(join(w.final, 'zz', 'pwned'), 'pwned');
    });
    rewriteBatch(w, 'zz', '..');
    refused(w, rsyncPatchArgv(w.pre, w.delta), /unsafe pathname from sender: \.\./, [w.pre]);
    expect(existsSync(join(w.root, 'pwned'))).toBe(false);
  });

  it('refuses an absolute name in a batch (rsync itself)', () => {
    let target = '';
    const w = rsyncWorld((w) => {
      target = `${w.sentinel}/pwned`;
      writeFileSync(join(w.final, 'q'.repeat(target.length)), 'pwned');
    });
    rewriteBatch(w, 'q'.repeat(target.length), target);
    refused(w, rsyncPatchArgv(w.pre, w.delta), /unsafe pathname from sender/, [w.pre]);
  });

  it('leaves out every symbolic link of a batch: out of the tree (--safe-links), or within it (then munged, so out of it too)', () => {
    for (const target of ['SENTINEL', 'core-1.img']) {
      const w = rsyncWorld((w) =>
        symlinkSync(
          target === 'SENTINEL' ? join(w.sentinel, 'target') : target,
          join(w.final, 'criu', 'link'),
        ),
      );
      const before = tree(w.sentinel, []);
      const p = run(rsyncPatchArgv(w.pre, w.delta));
      expect(p.code, p.stderr).toBe(0);
      expect(existsSync(join(w.pre, 'criu', 'new.img'))).toBe(true);
      expect(() => lstatSync(join(w.pre, 'criu', 'link'))).toThrow(/ENOENT/);
      expect(tree(w.sentinel, [])).toEqual(before);
    }
  });

  it('refuses a FIFO the batch creates (its -D overrides the reader’s)', () => {
    const w = rsyncWorld((w) => expect(run(['mkfifo', join(w.final, 'criu', 'fifo')]).code).toBe(0));
    refused(w, rsyncPatchArgv(w.pre, w.delta), /refused: .*pre\/criu\/fifo is not a regular file/, [w.pre]);
  });

  it('refuses to write into an earlier snapshot that holds a symbolic link', () => {
    const w = rsyncWorld();
    rmSync(join(w.pre, 'criu'), { recursive: true });
    symlinkSync(join(w.sentinel, 'criu'), join(w.pre, 'criu'));
    refused(w, rsyncPatchArgv(w.pre, w.delta), /refused: .*pre\/criu is not a regular file/, []);
  });
});

describe('placing a snapshot for a restore', () => {
  it('refuses a snapshot holding a symbolic link (CRIU would read through it) before it changes anything', () => {
    const w = world();
    const upper = join(w.root, 'upper');
    const ckpt = join(w.root, 'docker', 'checkpoints', 'final');
    mkdirSync(upper);
    writeFileSync(join(upper, 'app.txt'), 'the layer');
    expect(run(['tar', '-C', upper, '-cf', join(w.final, 'rootfs.tar'), '.']).code).toBe(0);
    rmSync(join(w.final, 'criu', 'pages-1.img'));
    symlinkSync(join(w.sentinel, 'target'), join(w.final, 'criu', 'pages-1.img'));
    refused(
      w,
      placeSnapshotArgv(w.final, upper, ckpt),
      /refused: .*final\/criu\/pages-1\.img is not a regular file/,
    );
    expect(existsSync(join(w.root, 'docker'))).toBe(false);
  });
});
