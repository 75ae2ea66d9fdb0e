/**
 * The testbed key's line, written by many testbeds at once to one shared file (the local lab's hosts, or
 * homes on NFS), and written to a disk that fills up: no line is lost, the file is never left half
 * written. Real sh, flock, awk and a real tmpfs on this machine.
 *
 * Before edgectl matched its lines by a whole field, this test lost lines in 16 of 20 runs: the line of
 * testbed tb1 was removed by substring, so whenever tb1 wrote after tb10 or tb11 it took their lines
 * with it (the lock was sound; the order of the writers decided the loss).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { legacyKeyMarker, testbedKeyMarker, writeKeyArgv } from '../../src/lib/provision/authorized-keys.js';
import { applyScript, parseApply } from '../../src/lib/provision/provision.js';
import { LocalExecutor } from '../../src/lib/remote/local.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-authkeys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const local = new LocalExecutor();

/** Testbed names, several of them a prefix of others. */
const TESTBEDS = [
  'tb1',
  'tb10',
  'tb11',
  'tb2',
  'tb20',
  'lab',
  'lab-2',
  'lab-2b',
  'paper',
  'paper-fig3',
  'x',
  'x-x',
];
const lineOf = (tb: string) =>
  `from="198.18.1.10",restrict,command="/usr/local/lib/edgectl/receive-${tb}" ssh-ed25519 AAAA${tb.replace(/-/g, '')} ${testbedKeyMarker(tb)}`;
const writer = (tb: string, line = lineOf(tb)) =>
  writeKeyArgv(line, testbedKeyMarker(tb), legacyKeyMarker(tb));
const FOREIGN = [
  'ssh-ed25519 AAAAalice alice@laptop',
  '# staff',
  'ssh-ed25519 AAAAbob edgectl-testbed:lab-old',
];

describe('the authorized key of many testbeds written to one file at once', () => {
  it('keeps every line, exactly once, however the writers interleave; resets remove only their own', async () => {
    const file = join(dir, 'authorized_keys');
    writeFileSync(file, `${FOREIGN.join('\n')}\n`);
    const env = { EDGECTL_AUTHORIZED_KEYS: file };
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(TESTBEDS.map((tb) => local.run(writer(tb), { env })));
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      const lines = readFileSync(file, 'utf8').trim().split('\n');
      expect(lines).toHaveLength(FOREIGN.length + TESTBEDS.length);
      expect(lines.slice(0, FOREIGN.length)).toEqual(FOREIGN);
      for (const tb of TESTBEDS)
        expect(
          lines.filter((l) => l === lineOf(tb)),
          tb,
        ).toHaveLength(1);
    }
    // Half of them reset while the other half write again, all at once.
    const resets = TESTBEDS.filter((_, i) => i % 2 === 0);
    const results = await Promise.all(
      TESTBEDS.map((tb) => local.run(resets.includes(tb) ? writer(tb, '') : writer(tb), { env })),
    );
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const kept = TESTBEDS.filter((tb) => !resets.includes(tb));
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    // Lines not edgectl's stay where they were; the writers' own come after them, in their order.
    expect(lines.slice(0, FOREIGN.length)).toEqual(FOREIGN);
    expect(lines.slice(FOREIGN.length).sort()).toEqual(kept.map(lineOf).sort());
  });
});

describe('the authorized key written to a full disk', () => {
  it('fails with the reason and leaves the file as it was (never empty, no copy left beside it)', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test mounts a tmpfs: run it as root');
    const mnt = join(dir, 'full');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16k,mode=0700', 'edgectl-test', mnt]);
    try {
      const file = join(mnt, 'authorized_keys');
      const before = `${FOREIGN.join('\n')}\nssh-ed25519 AAAAold ${legacyKeyMarker('lab')}\n`;
      writeFileSync(file, before, { mode: 0o600 });
      // The rest of the filesystem filled up (the write of the filler itself ends with ENOSPC).
      try {
        writeFileSync(join(mnt, 'filler'), Buffer.alloc(64 * 1024, 1));
      } catch {
        // full
      }
      // As provision sends it: in the host's list of changes, whose outcome names the failed command.
      const r = await local.run(['sh', '-s'], {
        stdin: applyScript([{ argv: writer('lab') }]),
        env: { EDGECTL_AUTHORIZED_KEYS: file },
      });
      const outcome = parseApply(r.stdout);
      expect(outcome).toMatchObject({ ok: false, index: 0, code: 1 });
      // awk's reason, then edgectl's words.
      const stderr = outcome.ok ? '' : outcome.stderr;
      expect(stderr).toContain('No space left on device');
      expect(stderr).toMatch(
        new RegExp(`\\nedgectl: cannot write the new copy; ${file} is left as it was\\n$`),
      );
      expect(readFileSync(file, 'utf8')).toBe(before);
      expect(readdirSync(mnt).sort()).toEqual(['authorized_keys', 'authorized_keys.edgectl-lock', 'filler']);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
