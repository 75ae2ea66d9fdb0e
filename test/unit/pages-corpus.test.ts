/**
 * The page codec's patch (native/edgectl-pages.c, run as root on the destination over a delta the source
 * sent) against crafted deltas, built from the source with AddressSanitizer and UndefinedBehaviorSanitizer:
 * each crafted delta is refused (exit 1, a message saying why), nothing outside the output directory
 * changes (a sentinel directory beside it, the earlier snapshot and the delta are compared before and
 * after), and no sanitizer reports anything. Then a seeded fuzz loop of mutated valid deltas, bounded in
 * time. The deltas are built by test/helpers/pages-delta.ts, which documents the format.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/lib/util/random.js';
import {
  BLOCK,
  blocksFile,
  hashOf,
  type PagesDelta,
  type PagesRecord,
  rebuildRecords,
  writePagesDelta,
} from '../helpers/pages-delta.js';

const SOURCE = fileURLToPath(new URL('../../native/edgectl-pages.c', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'edgectl-pages-corpus-'));
const bin = join(work, 'edgectl-pages-asan');
afterAll(() => rmSync(work, { recursive: true, force: true }));

// Sanitizer exit codes of their own, told apart from the codec's 1; leaks are not looked for (a failing
// run exits with its buffers held: no leak that matters in a one-shot process).
const SANITIZER_ENV = {
  ASAN_OPTIONS: 'detect_leaks=0:exitcode=86:abort_on_error=0',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1:exitcode=87',
};

beforeAll(() => {
  const r = spawnSync(
    'gcc',
    [
      '-O1',
      '-g',
      '-fsanitize=address,undefined',
      '-fno-omit-frame-pointer',
      '-fno-sanitize-recover=all',
      '-Wall',
      '-Wextra',
      '-o',
      bin,
      SOURCE,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`gcc failed (is gcc installed? scripts/setup.sh does): ${r.stderr}`);
  // The sanitizers run here (libasan can fail to start, e.g. under a ptrace-less sandbox).
  expect(run(['--version']).stdout).toBe('edgectl-pages dev\n');
}, 120_000);

function run(args: string[], label = ''): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(bin, args, {
    encoding: 'utf8',
    timeout: 15_000,
    env: { ...process.env, ...SANITIZER_ENV },
  });
  if (r.error) throw r.error;
  expect(r.stderr, `a sanitizer report ${label}`).not.toMatch(/Sanitizer|runtime error/);
  expect([86, 87], label).not.toContain(r.status);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function bytes(n: number, rand: () => number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

// The earlier snapshot (FILES order): 0 criu/core-1.img, 1 criu/pages-1.img (8 blocks and 100 bytes), 2 rootfs.tar.
const rand0 = seededRandom(23);
const PAGES = bytes(8 * BLOCK + 100, rand0);
const PRE: Record<string, Buffer> = {
  'criu/core-1.img': Buffer.from('core v1'),
  'criu/pages-1.img': PAGES,
  'rootfs.tar': Buffer.from('files v1'),
};
const FILES = Object.keys(PRE).sort();
const PRE_BUFFERS = FILES.map((f) => PRE[f]!);
const PAGES_FILE = FILES.indexOf('criu/pages-1.img');

/** The later pages file: a new block in front (every block moves), the 8 old ones, one patched, a new tail. */
const LATER_RECORDS: PagesRecord[] = [
  { kind: 'L', bytes: bytes(BLOCK, rand0) },
  { kind: 'C', file: PAGES_FILE, off: 0n, count: 8 },
  { kind: 'P', file: PAGES_FILE, off: 0n, ranges: [{ start: 100, bytes: Buffer.from('patched') }] },
  { kind: 'L', bytes: bytes(100, rand0) },
];
/** The same file patched in place: every reference to its own offset. */
const IN_PLACE_RECORDS: PagesRecord[] = [
  { kind: 'C', file: PAGES_FILE, off: 0n, count: 2 },
  {
    kind: 'P',
    file: PAGES_FILE,
    off: 2n * BigInt(BLOCK),
    ranges: [{ start: 7, bytes: Buffer.from('in place') }],
  },
  { kind: 'C', file: PAGES_FILE, off: 3n * BigInt(BLOCK), count: 5 },
  { kind: 'L', bytes: bytes(300, rand0) },
];
const LATER = rebuildRecords(PRE_BUFFERS, LATER_RECORDS);
const IN_PLACE = rebuildRecords(PRE_BUFFERS, IN_PLACE_RECORDS);
const ROOTFS = Buffer.from('files v2, longer');

/** A .blocks file of well-formed records, with the header they deserve. */
function validBlocks(records: PagesRecord[]): Buffer {
  const made = rebuildRecords(PRE_BUFFERS, records);
  return blocksFile(BigInt(made.length), hashOf(made), records);
}

/** A .blocks file with a header claiming `size` bytes (the hash of nothing in particular). */
function craftedBlocks(size: bigint, records: PagesRecord[]): Buffer {
  return blocksFile(size, 0n, records);
}

function validDelta(pages: PagesRecord[] = LATER_RECORDS): PagesDelta {
  return {
    files: FILES,
    manifest: ['same criu/core-1.img', 'blocks criu/pages-1.img', 'blocks rootfs.tar'],
    blocks: {
      'criu/pages-1.img': validBlocks(pages),
      'rootfs.tar': blocksFile(BigInt(ROOTFS.length), hashOf(ROOTFS), [{ kind: 'L', bytes: ROOTFS }]),
    },
  };
}

interface World {
  root: string;
  pre: string;
  delta: string;
  out: string;
  sentinel: string;
}

let worlds = 0;
/** A case's directory: the earlier snapshot, the delta (written by the case), a sentinel directory. */
function world(): World {
  const root = join(work, `w${worlds++}`);
  const w = {
    root,
    pre: join(root, 'pre'),
    delta: join(root, 'delta'),
    out: join(root, 'out'),
    sentinel: join(root, 'sentinel'),
  };
  for (const [name, data] of Object.entries(PRE)) {
    mkdirSync(join(w.pre, name, '..'), { recursive: true });
    // 0600: as the pre-migration image arrives (made under the source's umask 077, kept by tar -x).
    writeFileSync(join(w.pre, name), data, { mode: 0o600 });
  }
  mkdirSync(join(w.sentinel, 'criu'), { recursive: true });
  writeFileSync(join(w.sentinel, 'target'), PAGES);
  writeFileSync(join(w.sentinel, 'secret'), 'not for the codec');
  writeFileSync(join(w.sentinel, 'criu', 'pages-1.img'), PAGES);
  return w;
}

/** Everything under `dir` but `skip`: each entry's type, mode, and content (or link target). */
function tree(dir: string, skip: string): string[] {
  const lines: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (p === skip) continue;
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

/** Runs patch over a world the case has set up; returns its result once nothing outside `out` changed. */
function patchRefused(w: World, message: RegExp): void {
  const before = tree(w.root, w.out);
  const r = run(['patch', w.pre, w.delta, w.out]);
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toMatch(/^edgectl-pages: /);
  expect(r.stderr).toMatch(message);
  expect(tree(w.root, w.out)).toEqual(before);
}

describe('edgectl-pages patch on hand-built deltas (the builder is right)', () => {
  it('rebuilds a valid delta exactly, private files in private directories', () => {
    const w = world();
    writePagesDelta(w.delta, validDelta());
    const r = run(['patch', w.pre, w.delta, w.out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(w.out, 'criu', 'pages-1.img')).equals(LATER)).toBe(true);
    expect(readFileSync(join(w.out, 'rootfs.tar')).equals(ROOTFS)).toBe(true);
    expect(readFileSync(join(w.out, 'criu', 'core-1.img'), 'utf8')).toBe('core v1');
    for (const p of ['', 'criu']) expect(statSync(join(w.out, p)).mode & 0o777, p).toBe(0o700);
    for (const p of ['criu/pages-1.img', 'rootfs.tar', 'criu/core-1.img'])
      expect(statSync(join(w.out, p)).mode & 0o777, p).toBe(0o600);
  });

  it('patches a file in place when every reference is to its own offset', () => {
    const w = world();
    writePagesDelta(w.delta, validDelta(IN_PLACE_RECORDS));
    const r = run(['patch', w.pre, w.delta, w.out]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(w.out, 'criu', 'pages-1.img')).equals(IN_PLACE)).toBe(true);
    expect(statSync(join(w.out, 'criu', 'pages-1.img')).ino).toBe(
      statSync(join(w.pre, 'criu', 'pages-1.img')).ino,
    );
  });

  it('diff then patch: what diff writes, patch takes (the same format)', () => {
    const w = world();
    const final = join(w.root, 'final');
    mkdirSync(join(final, 'criu'), { recursive: true });
    writeFileSync(join(final, 'criu', 'pages-1.img'), LATER);
    writeFileSync(join(final, 'criu', 'core-1.img'), 'core v1');
    writeFileSync(join(final, 'rootfs.tar'), ROOTFS);
    const d = run(['diff', w.pre, final, w.delta]);
    expect(d.code, d.stderr).toBe(0);
    expect(readFileSync(join(w.delta, 'FILES'), 'utf8')).toBe(FILES.map((f) => `${f}\n`).join(''));
    expect(statSync(join(w.delta, 'criu', 'pages-1.img.blocks')).mode & 0o777).toBe(0o600);
    expect(statSync(join(w.delta, 'criu')).mode & 0o777).toBe(0o700);
    const p = run(['patch', w.pre, w.delta, w.out]);
    expect(p.code, p.stderr).toBe(0);
    expect(readFileSync(join(w.out, 'criu', 'pages-1.img')).equals(LATER)).toBe(true);
  });
});

/** A case: what it sets up in a fresh world (the delta written, links planted), and the refusal expected. */
interface Crafted {
  name: string;
  setUp: (w: World) => void;
  message: RegExp;
}

const withDelta =
  (edit: (d: PagesDelta, w: World) => void) =>
  (w: World): void => {
    const d = validDelta();
    edit(d, w);
    writePagesDelta(w.delta, d);
  };
const pagesBlocks = (records: PagesRecord[], size?: bigint) =>
  withDelta((d) => {
    d.blocks['criu/pages-1.img'] = size === undefined ? validBlocks(records) : craftedBlocks(size, records);
  });
const NOT_A_NAME = /not a plain relative name: refused/;
const MAX_U64 = (1n << 64n) - 1n;

const CORPUS: Crafted[] = [
  // Names that leave the directory, or are not names at all.
  {
    name: 'MANIFEST: a ".." name (links the sentinel into the output)',
    setUp: withDelta((d) => {
      d.manifest = ['same ../sentinel/secret', ...d.manifest];
    }),
    message: NOT_A_NAME,
  },
  {
    name: 'MANIFEST: ".." inside a name (rebuilds over the sentinel)',
    setUp: withDelta((d) => {
      d.manifest = ['blocks criu/../../sentinel/target'];
      d.blocks['criu/../../sentinel/target'] = validBlocks(LATER_RECORDS);
    }),
    message: NOT_A_NAME,
  },
  {
    name: 'MANIFEST: an absolute name',
    setUp: withDelta((d, w) => {
      d.manifest = [`blocks ${w.sentinel}/target`];
    }),
    message: NOT_A_NAME,
  },
  {
    name: 'FILES: a ".." name (patched in place: written through)',
    setUp: withDelta((d) => {
      d.files = ['../sentinel/target'];
      d.manifest = ['blocks ../sentinel/target'];
    }),
    message: NOT_A_NAME,
  },
  {
    name: 'FILES: an absolute name',
    setUp: withDelta((d, w) => {
      d.files = [join(w.sentinel, 'secret'), ...FILES];
    }),
    message: NOT_A_NAME,
  },
  {
    name: 'an empty component',
    setUp: withDelta((d) => {
      d.manifest = ['same criu//core-1.img'];
    }),
    message: NOT_A_NAME,
  },
  {
    name: 'a "." component',
    setUp: withDelta((d) => {
      d.manifest = ['same ./criu/core-1.img'];
    }),
    message: NOT_A_NAME,
  },
  {
    name: 'a trailing slash',
    setUp: withDelta((d) => {
      d.files = ['criu/', ...FILES];
    }),
    message: NOT_A_NAME,
  },
  {
    name: 'a control character (a terminal escape), shown as "?"',
    setUp: withDelta((d) => {
      d.manifest = ['same criu/\x1b[2Jcore-1.img'];
    }),
    message: /names criu\/\?\[2Jcore-1\.img: not a plain relative name/,
  },
  {
    name: 'a NUL inside a name (what follows it would go unchecked)',
    setUp: withDelta((d) => {
      d.manifestText = Buffer.from('same criu/core-1.img\0/../../../sentinel/secret\n');
    }),
    message: NOT_A_NAME,
  },
  {
    name: 'MANIFEST: an unknown kind of line',
    setUp: withDelta((d) => {
      d.manifest = ['copy criu/core-1.img'];
    }),
    message: /MANIFEST has a bad line: copy criu\/core-1\.img/,
  },
  {
    name: 'MANIFEST: a name twice (the same file rebuilt twice)',
    setUp: withDelta((d) => {
      d.manifest = ['blocks criu/pages-1.img', 'blocks criu/pages-1.img'];
    }),
    message: /MANIFEST is not sorted, or repeats a name/,
  },
  {
    name: 'FILES: not sorted',
    setUp: withDelta((d) => {
      d.files = [...FILES].reverse();
    }),
    message: /FILES is not sorted, or repeats a name/,
  },
  {
    name: 'FILES: cut short (its last line has no end)',
    setUp: withDelta((d) => {
      d.filesText = 'criu/core-1.img\ncriu/pag';
    }),
    message: /FILES is cut short/,
  },
  {
    name: 'MANIFEST: a huge number of lines',
    setUp: withDelta((d) => {
      d.manifest = Array.from({ length: 5000 }, (_, i) => `same f${String(i).padStart(5, '0')}`);
    }),
    message: /MANIFEST has more than 4096 lines/,
  },
  {
    name: 'MANIFEST: "same" for a file FILES does not list',
    setUp: withDelta((d) => {
      d.manifest = ['same criu/other.img'];
    }),
    message: /says criu\/other\.img is unchanged, but FILES does not list it/,
  },
  // Symbolic links: in the delta, in the earlier snapshot, as the output.
  {
    name: 'a .blocks file in the delta that is a symbolic link out of it',
    setUp: (w) => {
      writePagesDelta(w.delta, { ...validDelta(), blocks: {} });
      writeFileSync(join(w.sentinel, 'blocks'), validBlocks(LATER_RECORDS));
      writeFileSync(join(w.delta, 'rootfs.tar.blocks'), validDelta().blocks['rootfs.tar']!);
      mkdirSync(join(w.delta, 'criu'), { recursive: true });
      symlinkSync(join(w.sentinel, 'blocks'), join(w.delta, 'criu', 'pages-1.img.blocks'));
    },
    message: /criu\/pages-1\.img\.blocks is a symbolic link: refused/,
  },
  {
    name: 'a directory in the delta that is a symbolic link out of it',
    setUp: (w) => {
      writePagesDelta(w.delta, {
        ...validDelta(),
        blocks: { 'rootfs.tar': validDelta().blocks['rootfs.tar']! },
      });
      writeFileSync(join(w.sentinel, 'criu', 'pages-1.img.blocks'), validBlocks(LATER_RECORDS));
      symlinkSync(join(w.sentinel, 'criu'), join(w.delta, 'criu'));
    },
    message: /delta\/criu is a symbolic link or not a directory: refused/,
  },
  {
    name: 'MANIFEST itself a symbolic link',
    setUp: (w) => {
      writePagesDelta(w.delta, validDelta());
      rmSync(join(w.delta, 'MANIFEST'));
      writeFileSync(join(w.sentinel, 'manifest'), 'same ../sentinel/secret\n');
      symlinkSync(join(w.sentinel, 'manifest'), join(w.delta, 'MANIFEST'));
    },
    message: /MANIFEST is a symbolic link: refused/,
  },
  {
    name: 'a file of the earlier snapshot that is a symbolic link out of it (patched in place: written through)',
    setUp: (w) => {
      writePagesDelta(w.delta, validDelta(IN_PLACE_RECORDS));
      rmSync(join(w.pre, 'criu', 'pages-1.img'));
      symlinkSync(join(w.sentinel, 'target'), join(w.pre, 'criu', 'pages-1.img'));
    },
    message: /pre\/criu\/pages-1\.img is a symbolic link: refused/,
  },
  {
    name: 'a directory of the earlier snapshot that is a symbolic link out of it',
    setUp: (w) => {
      writePagesDelta(w.delta, validDelta(IN_PLACE_RECORDS));
      writeFileSync(join(w.sentinel, 'criu', 'core-1.img'), 'core v1');
      rmSync(join(w.pre, 'criu'), { recursive: true });
      symlinkSync(join(w.sentinel, 'criu'), join(w.pre, 'criu'));
    },
    message: /pre\/criu is a symbolic link or not a directory: refused/,
  },
  {
    name: 'a FIFO in the earlier snapshot (an open would block)',
    setUp: (w) => {
      writePagesDelta(w.delta, validDelta());
      rmSync(join(w.pre, 'criu', 'core-1.img'));
      expect(spawnSync('mkfifo', [join(w.pre, 'criu', 'core-1.img')]).status).toBe(0);
    },
    message: /core-1\.img is a FIFO: refused/,
  },
  {
    name: 'the output already there, as a symbolic link into the sentinel',
    setUp: (w) => {
      writePagesDelta(w.delta, validDelta());
      symlinkSync(w.sentinel, w.out);
    },
    message: /cannot create .*out: File exists/,
  },
  // Offsets and lengths: wrapping, past the ends, cut short, huge counts.
  {
    name: 'a copy whose offset + length wraps past 2^64',
    setUp: pagesBlocks(
      [{ kind: 'C', file: PAGES_FILE, off: MAX_U64 - BigInt(BLOCK) + 1n, count: 2 }],
      2n * BigInt(BLOCK),
    ),
    message: /refers outside the earlier snapshot/,
  },
  {
    name: 'a patched block whose offset + 4096 wraps past 2^64',
    setUp: pagesBlocks(
      [{ kind: 'P', file: PAGES_FILE, off: MAX_U64 - 100n, ranges: [{ start: 0, bytes: Buffer.from('x') }] }],
      BigInt(BLOCK),
    ),
    message: /refers outside the earlier snapshot/,
  },
  {
    name: 'a copy past the end of the earlier file',
    setUp: pagesBlocks(
      [{ kind: 'C', file: PAGES_FILE, off: 7n * BigInt(BLOCK), count: 2 }],
      2n * BigInt(BLOCK),
    ),
    message: /refers outside the earlier snapshot/,
  },
  {
    name: 'a copy of a huge count of blocks (2^32 - 1)',
    setUp: pagesBlocks([{ kind: 'C', file: PAGES_FILE, off: 0n, count: 0xffffffff }], MAX_U64),
    message: /refers outside the earlier snapshot/,
  },
  {
    name: 'a copy of no block',
    setUp: pagesBlocks([{ kind: 'C', file: PAGES_FILE, off: 0n, count: 0 }], 100n),
    message: /holds an empty copy/,
  },
  {
    name: 'a reference to a file FILES does not have',
    setUp: pagesBlocks([{ kind: 'C', file: 7, off: 0n, count: 1 }], BigInt(BLOCK)),
    message: /refers to file 7 of the earlier snapshot, which has 3/,
  },
  {
    name: 'a patch range past the end of its block',
    setUp: pagesBlocks(
      [{ kind: 'P', file: PAGES_FILE, off: 0n, ranges: [{ start: 4000, bytes: Buffer.alloc(200, 1) }] }],
      BigInt(BLOCK),
    ),
    message: /patches outside a block/,
  },
  {
    name: 'a patch with a huge count of ranges, the bytes missing',
    setUp: pagesBlocks(
      [
        {
          kind: 'P',
          file: PAGES_FILE,
          off: 0n,
          count: 0xffff,
          ranges: [{ start: 0, bytes: Buffer.from('ab') }],
        },
      ],
      BigInt(BLOCK),
    ),
    message: /is cut short/,
  },
  {
    name: 'a patch range whose bytes run past the end of the delta, in a file otherwise patched in place',
    setUp: pagesBlocks(
      [
        { kind: 'C', file: PAGES_FILE, off: 0n, count: 1 },
        {
          kind: 'P',
          file: PAGES_FILE,
          off: BigInt(BLOCK),
          ranges: [
            { start: 0, bytes: Buffer.from('only ten b'), length: 4000 },
            { start: 0, bytes: Buffer.from('x') },
          ],
        },
      ],
      2n * BigInt(BLOCK),
    ),
    message: /is cut short/,
  },
  {
    name: 'a literal longer than the file it makes',
    setUp: pagesBlocks([{ kind: 'L', bytes: Buffer.alloc(200, 7) }], 100n),
    message: /writes past the file's end/,
  },
  {
    name: 'a literal longer than the bytes left in the delta',
    setUp: pagesBlocks([{ kind: 'L', bytes: Buffer.alloc(10, 7), length: 1000 }], 1000n),
    message: /is cut short/,
  },
  {
    name: 'a literal of 2^32 - 1 bytes, in a file of 2^64 - 1',
    setUp: pagesBlocks([{ kind: 'L', bytes: Buffer.alloc(10, 7), length: 0xffffffff }], MAX_U64),
    message: /is cut short/,
  },
  {
    name: 'a size of 2^64 - 1 that the records never reach',
    setUp: pagesBlocks([{ kind: 'L', bytes: Buffer.alloc(10, 7) }], MAX_U64),
    message: /is cut short/,
  },
  {
    name: 'a header cut short',
    setUp: withDelta((d) => {
      d.blocks['criu/pages-1.img'] = Buffer.from('EPB1\x01\x02\x03');
    }),
    message: /criu\/pages-1\.img\.blocks is cut short/,
  },
  {
    name: 'a record cut short (a copy without its count)',
    setUp: pagesBlocks([{ kind: 'raw', bytes: Buffer.from([0x43, 1, 0, 0, 0, 0, 0]) }], BigInt(BLOCK)),
    message: /is cut short/,
  },
  {
    name: 'not a block delta',
    setUp: withDelta((d) => {
      d.blocks['criu/pages-1.img'] = Buffer.from('EPB2 and more than twenty bytes');
    }),
    message: /is not a block delta/,
  },
  {
    name: 'an unknown record',
    setUp: pagesBlocks([{ kind: 'raw', bytes: Buffer.from('X') }], 10n),
    message: /holds an unknown record/,
  },
  {
    name: 'bytes after the end',
    setUp: pagesBlocks([
      { kind: 'L', bytes: Buffer.alloc(10, 7) },
      { kind: 'raw', bytes: Buffer.from('more') },
    ]),
    message: /has bytes after its end/,
  },
  {
    name: 'a literal changed in transit (the hash)',
    setUp: withDelta((d) => {
      const b = Buffer.from(d.blocks['criu/pages-1.img']!);
      b[b.length - 1] = b[b.length - 1]! ^ 1;
      d.blocks['criu/pages-1.img'] = b;
    }),
    message: /hash mismatch/,
  },
];

describe('edgectl-pages patch refuses crafted deltas, writing nothing outside its output (under ASan and UBSan)', () => {
  it('has a corpus of at least 30 cases', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(30);
  });

  it.each(CORPUS.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const w = world();
    c.setUp(w);
    patchRefused(w, c.message);
  });
});

describe('edgectl-pages diff', () => {
  it('refuses a snapshot with a name the delta cannot hold (a newline would end its line early)', () => {
    const w = world();
    const final = join(w.root, 'final');
    mkdirSync(final);
    writeFileSync(join(final, 'a\nsame x'), 'x');
    const r = run(['diff', w.pre, final, w.delta]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/a name the delta cannot hold: a\?same x/);
  });

  it('refuses a symbolic link in a snapshot', () => {
    const w = world();
    const final = join(w.root, 'final');
    mkdirSync(final);
    symlinkSync(join(w.sentinel, 'secret'), join(final, 'link'));
    const r = run(['diff', w.pre, final, w.delta]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not a regular file or directory: .*final\/link/);
  });
});

describe('edgectl-pages patch over mutated deltas (seeded fuzz, bounded in time)', () => {
  it('exits 0 or 1, never a sanitizer report, never a write outside its output', () => {
    const seed = Number(process.env['EDGECTL_FUZZ_SEED'] ?? 2023);
    const rand = seededRandom(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const edges = [0n, 1n, 0x7fffn, 0xffffn, 0x7fffffffn, 0xffffffffn, BigInt(BLOCK), 1n << 63n, MAX_U64];
    // Small literals, so that most mutations land on the records' fields (offsets, counts, lengths).
    const block = (n: number) => BigInt(n * BLOCK);
    const bases = [
      [
        { kind: 'L', bytes: bytes(20, rand) },
        { kind: 'C', file: PAGES_FILE, off: block(1), count: 2 },
        { kind: 'P', file: PAGES_FILE, off: block(0), ranges: [{ start: 9, bytes: Buffer.from('ab') }] },
        { kind: 'C', file: PAGES_FILE, off: block(5), count: 1 },
        { kind: 'L', bytes: bytes(9, rand) },
      ],
      [
        { kind: 'C', file: PAGES_FILE, off: 0n, count: 2 },
        {
          kind: 'P',
          file: PAGES_FILE,
          off: block(2),
          ranges: [
            { start: 1, bytes: Buffer.from('cd') },
            { start: 4090, bytes: Buffer.from('ef') },
          ],
        },
        { kind: 'C', file: PAGES_FILE, off: block(3), count: 5 },
        { kind: 'L', bytes: bytes(30, rand) },
      ],
    ].map((records) => validDelta(records as PagesRecord[]));
    const deadline = Date.now() + 6000;
    const outcomes = { ok: 0, refused: 0 };
    let i = 0;
    for (; i < 400 && Date.now() < deadline; i++) {
      const base = pick(bases);
      const blocks = Buffer.from(base.blocks['criu/pages-1.img']!);
      let mutated: Buffer = blocks;
      for (let m = 1 + Math.floor(rand() * 3); m > 0; m--) {
        const at = Math.floor(rand() * mutated.length);
        const kind = Math.floor(rand() * 6);
        if (kind === 0) mutated[at] = Math.floor(rand() * 256);
        else if (kind === 1 && at + 8 <= mutated.length) mutated.writeBigUInt64LE(pick(edges), at);
        else if (kind === 2 && at + 4 <= mutated.length)
          mutated.writeUInt32LE(Number(pick(edges) & 0xffffffffn), at);
        else if (kind === 3) mutated = mutated.subarray(0, at);
        else if (kind === 4)
          mutated = Buffer.concat([
            mutated.subarray(0, at),
            bytes(1 + Math.floor(rand() * 16), rand),
            mutated.subarray(at),
          ]);
        else mutated = Buffer.concat([mutated, mutated.subarray(at, at + 64)]);
      }
      const w = world();
      writePagesDelta(w.delta, { ...base, blocks: { ...base.blocks, 'criu/pages-1.img': mutated } });
      const before = tree(w.sentinel, '');
      const r = run(['patch', w.pre, w.delta, w.out], `(seed ${seed}, iteration ${i})`);
      expect([0, 1], `seed ${seed}, iteration ${i}: ${r.stderr}`).toContain(r.code);
      expect(tree(w.sentinel, ''), `seed ${seed}, iteration ${i}`).toEqual(before);
      expect(readdirSync(w.root).sort(), `seed ${seed}, iteration ${i}`).toEqual([
        'delta',
        'out',
        'pre',
        'sentinel',
      ]);
      outcomes[r.code === 0 ? 'ok' : 'refused']++;
      rmSync(w.root, { recursive: true, force: true });
    }
    // Enough runs to mean something on a loaded machine, and mutations that reach the checks.
    expect(i).toBeGreaterThanOrEqual(50);
    expect(outcomes.refused).toBeGreaterThan(i / 2);
  }, 30_000);
});
