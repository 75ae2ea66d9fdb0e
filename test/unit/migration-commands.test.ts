import { describe, expect, it } from 'vitest';
import {
  migrationKey,
  primeNeighbourArgv,
  rsyncBatchArgv,
  rsyncPatchArgv,
  stagingDir,
} from '../../src/lib/migration/commands.js';
import { DEFAULT_CODEC, phasesOf } from '../../src/lib/migration/pipeline.js';

describe('migration commands', () => {
  it("keys staging by the state database and the migration: two databases' migration 1 do not meet", () => {
    const a = stagingDir('paper', migrationKey('0123456789abcdef', 1), 'src');
    const b = stagingDir('paper', migrationKey('fedcba9876543210', 1), 'src');
    expect(a).toBe('/var/lib/edgectl/migrations/paper/0123456789abcdef-1-src');
    expect(b).not.toBe(a);
    // The path goes to rm -rf: anything but a key is refused.
    for (const bad of ['1', '../1', '0123456789abcdef-0', '0123456789ABCDEF-1', '0123456789abcdef-1/..', ''])
      expect(() => stagingDir('paper', bad, 'dst'), bad).toThrow(/not a migration key/);
  });

  it('the rsync codec asks for the block delta as a batch, applied at the destination', () => {
    const batch = rsyncBatchArgv('/s/pre', '/s/final', '/s/delta');
    expect(batch[2]).toContain('--no-whole-file --only-write-batch="$out/batch" "$final/" "$pre/"');
    expect(batch.slice(3)).toEqual(['rsync-delta', '/s/pre', '/s/final', '/s/delta']);
    expect(rsyncPatchArgv('/d/pre', '/d/in')).toEqual([
      'rsync',
      '-a',
      '-I',
      '--delete',
      '--read-batch=/d/in/batch',
      '/d/pre/',
    ]);
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
