/**
 * Deltas of edgectl-pages (native/edgectl-pages.c) built by hand, so that tests can craft the ones its
 * `diff` never writes. The format relied on (the C file's header describes the same):
 *  - DELTA/FILES: the earlier snapshot's files, one name a line, sorted, every line ended by "\n";
 *  - DELTA/MANIFEST: "same NAME" (linked from the earlier snapshot) or "blocks NAME" (rebuilt from
 *    DELTA/NAME.blocks), one line per file of the later snapshot, sorted by name;
 *  - NAME.blocks: "EPB1", the rebuilt file's size (u64) and hash (u64, hashOf), then records until that
 *    size is made, integers little-endian:
 *      'C' u32 file, u64 offset, u32 count    `count` 4 KiB blocks of FILES[file] from `offset`
 *      'P' u32 file, u64 offset, u16 n, then n times u16 start, u16 length, the bytes
 *                                             one block of FILES[file] with those bytes replaced
 *      'L' u32 length, the bytes              literal bytes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const BLOCK = 4096;

export type PagesRecord =
  | { kind: 'C'; file: number; off: bigint; count: number }
  | {
      kind: 'P';
      file: number;
      off: bigint;
      ranges: { start: number; bytes: Buffer; length?: number }[];
      count?: number;
    }
  | { kind: 'L'; bytes: Buffer; length?: number }
  /** Bytes as they are (an unknown record, a cut-off one). */
  | { kind: 'raw'; bytes: Buffer };

const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const u64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n);
  return b;
};

/** The records as bytes; a `length` or `count` given overrides the one the data would make (a lie). */
export function encodeRecords(records: PagesRecord[]): Buffer {
  const encode = (r: PagesRecord): Buffer[] => {
    if (r.kind === 'C') return [Buffer.from('C'), u32(r.file), u64(r.off), u32(r.count)];
    if (r.kind === 'P')
      return [
        Buffer.from('P'),
        u32(r.file),
        u64(r.off),
        u16(r.count ?? r.ranges.length),
        ...r.ranges.flatMap((g) => [u16(g.start), u16(g.length ?? g.bytes.length), g.bytes]),
      ];
    if (r.kind === 'L') return [Buffer.from('L'), u32(r.length ?? r.bytes.length), r.bytes];
    return [r.bytes];
  };
  return Buffer.concat(records.flatMap(encode));
}

/** A .blocks file: its header (the size and hash of the file it rebuilds) and its records. */
export function blocksFile(size: bigint, hash: bigint, records: PagesRecord[]): Buffer {
  return Buffer.concat([Buffer.from('EPB1'), u64(size), u64(hash), encodeRecords(records)]);
}

const MASK = (1n << 64n) - 1n;

/** The codec's hash of a rebuilt file (its hash_bytes with seed 1): a word-at-a-time multiply-xorshift. */
export function hashOf(data: Buffer): bigint {
  let h = 1n;
  const words = Math.floor(data.length / 8);
  for (let i = 0; i < words; i++) {
    h = ((h ^ data.readBigUInt64LE(i * 8)) * 0x9e3779b97f4a7c15n) & MASK;
    h ^= h >> 31n;
  }
  for (let i = words * 8; i < data.length; i++) h = ((h ^ BigInt(data[i]!)) * 0x100000001b3n) & MASK;
  return h ^ (h >> 29n) ^ BigInt(data.length);
}

/** What well-formed records rebuild from the earlier files (the reference the codec must match); raw
 * bytes add nothing. */
export function rebuildRecords(pre: Buffer[], records: PagesRecord[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) {
    if (r.kind === 'C') parts.push(pre[r.file]!.subarray(Number(r.off), Number(r.off) + r.count * BLOCK));
    else if (r.kind === 'P') {
      const block = Buffer.from(pre[r.file]!.subarray(Number(r.off), Number(r.off) + BLOCK));
      for (const g of r.ranges) g.bytes.copy(block, g.start);
      parts.push(block);
    } else if (r.kind === 'L') parts.push(r.bytes);
  }
  return Buffer.concat(parts);
}

/** A delta directory's contents: FILES and MANIFEST as lines (each written with its "\n"), and the
 * .blocks files by the name of the file they rebuild. `filesText`/`manifestText`: written as they are. */
export interface PagesDelta {
  files: string[];
  manifest: string[];
  blocks: Record<string, Buffer>;
  filesText?: string | Buffer;
  manifestText?: string | Buffer;
}

export function writePagesDelta(dir: string, d: PagesDelta): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'FILES'), d.filesText ?? d.files.map((f) => `${f}\n`).join(''));
  writeFileSync(join(dir, 'MANIFEST'), d.manifestText ?? d.manifest.map((l) => `${l}\n`).join(''));
  for (const [name, bytes] of Object.entries(d.blocks)) {
    const path = join(dir, `${name}.blocks`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes);
  }
}
