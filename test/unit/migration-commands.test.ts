import { describe, expect, it } from 'vitest';
import {
  makeStagingArgv,
  migrationKey,
  placeSnapshotArgv,
  primeNeighbourArgv,
  rsyncBatchArgv,
  rsyncPatchArgv,
  runcCheckpointArgv,
  STAGING_ROOT,
  snapshotArgv,
  stagingDir,
} from '../../src/lib/migration/commands.js';
import { DEFAULT_CODEC, phasesOf } from '../../src/lib/migration/pipeline.js';

describe('migration commands', () => {
  it("keys staging by the state database and the migration: two databases' migration 1 do not meet", () => {
    const a = stagingDir('paper', migrationKey('0123456789abcdef', 1), 'src');
    const b = stagingDir('paper', migrationKey('fedcba9876543210', 1), 'src');
    expect(a).toBe('/var/lib/edgectl/migrations/paper/0123456789abcdef-1/src');
    expect(b).not.toBe(a);
    // The path goes to rm -rf: anything but a key is refused.
    for (const bad of ['1', '../1', '0123456789abcdef-0', '0123456789ABCDEF-1', '0123456789abcdef-1/..', ''])
      expect(() => stagingDir('paper', bad, 'dst'), bad).toThrow(/not a migration key/);
  });

  it('the rsync codec asks for the block delta as a batch, applied at the destination', () => {
    const batch = rsyncBatchArgv('/s/pre', '/s/final', '/s/delta');
    expect(batch[2]).toContain('--no-whole-file --only-write-batch="$out/batch" "$final/" "$pre/"');
    expect(batch.slice(3)).toEqual(['rsync-delta', '/s/pre', '/s/final', '/s/delta']);
    const patch = rsyncPatchArgv('/d/pre', '/d/in');
    expect(patch.slice(0, 2)).toEqual(['sh', '-c']);
    expect(patch.slice(3)).toEqual(['rsync-patch', '/d/pre', '/d/in/batch']);
    // The batch's symbolic links neutered, and the result checked for anything but files and directories.
    expect(patch[2]).toContain(
      'rsync -a -I --delete --safe-links --munge-links --read-batch="$batch" "$pre/"\nonly_files "$pre"',
    );
  });

  it('makes staging private: the root 0700, the directories below under umask 077', () => {
    const dir = stagingDir('lab', migrationKey('0123456789abcdef', 7), 'dst');
    expect(dir).toBe(`${STAGING_ROOT}/lab/0123456789abcdef-7/dst`);
    expect(STAGING_ROOT).toBe('/var/lib/edgectl/migrations');
    const argv = makeStagingArgv(dir);
    expect(argv.slice(3)).toEqual(['staging', STAGING_ROOT, dir]);
    expect(argv[2]).toMatch(/^set -eu\numask 077\nroot=\$1; dir=\$2\nmkdir -p "\$dir"\n/);
    expect(argv[2]).toContain('chmod 0700 "$d"');
    expect(() => makeStagingArgv('/tmp/elsewhere')).toThrow(/not beneath/);
    expect(() => makeStagingArgv(`${STAGING_ROOT}-other/x`)).toThrow(/not beneath/);
  });

  it('carries every xattr and ACL of the writable layer, at both ends of its tar', () => {
    const flags = "--xattrs '--xattrs-include=*' --numeric-owner";
    const snapshot = snapshotArgv('/s/final', '/ckpt', '/upper')[2]!;
    expect(snapshot).toContain(`tar ${flags} -C "$upper" -cf "$out/rootfs.tar" .`);
    const runc = runcCheckpointArgv({
      runc: 'runc',
      root: '/run/runc',
      containerId: 'c',
      images: '/s/final/criu',
      work: '/s/w',
      after: 'freeze',
      snapshot: { dir: '/s/final', upperDir: '/upper' },
    })[2]!;
    expect(runc).toContain(`tar ${flags} -C "$upper" -cf "$snap/rootfs.tar" .`);
    expect(placeSnapshotArgv('/d/final', '/upper', '/ckpt')[2]).toContain(
      `tar ${flags} -C "$upper" -xpf "$snap/rootfs.tar"`,
    );
    // --acls is not there: tar 1.34 writes ACLs by user name (the ACLs go as their system.posix_acl_* xattrs).
    expect(snapshot).not.toContain('--acls');
    for (const script of [snapshot, runc]) expect(script).toMatch(/^set -eu\n(.*\n)?umask 077\n/);
  });

  it('primes the neighbour entry with the address and MAC as arguments, not in the script', () => {
    const argv = primeNeighbourArgv('198.19.1.2', '02:42:c6:13:01:02');
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv.slice(3)).toEqual(['neighbour', '198.19.1.2', '02:42:c6:13:01:02']);
    expect(argv[2]).not.toContain('198.19.1.2');
    expect(argv[2]).toContain('ip neigh replace "$ip" lladdr "$mac" dev "$dev" nud reachable');
  });

  it('lists the phases of each strategy and codec', () => {
    expect(DEFAULT_CODEC).toBe('pages');
    // Every codec: delta at the source, transfer through the channel, patch at the destination.
    expect(phasesOf('delta')).toEqual([
      'prepare',
      'pre-checkpoint',
      'pre-transfer',
      'checkpoint',
      'delta',
      'transfer',
      'patch',
      'restore',
      'verify',
      'cleanup',
    ]);
    expect(phasesOf('full')).toEqual(['prepare', 'checkpoint', 'transfer', 'restore', 'verify', 'cleanup']);
  });
});
