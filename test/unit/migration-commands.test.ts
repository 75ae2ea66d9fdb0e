import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  parseRsyncBytes,
  primeNeighbourArgv,
  type RsyncTarget,
  rsyncArgv,
  rsyncBatchArgv,
  rsyncPatchArgv,
  rsyncShell,
} from '../../src/lib/migration/commands.js';
import { DEFAULT_CODEC, phasesOf } from '../../src/lib/migration/pipeline.js';

const target: RsyncTarget = {
  user: 'root',
  address: '198.18.1.12',
  port: 22,
  key: '/etc/edgectl/t/id_ed25519',
  knownHosts: '/etc/edgectl/t/known_hosts',
  controlPath: '/var/lib/edgectl/m/1/src.ssh',
};

describe('migration commands', () => {
  it('sends with rsync over one reused SSH connection, straight to the destination', () => {
    const argv = rsyncArgv('/s/final', target, '/d/final');
    expect(argv.slice(0, 5)).toEqual(['rsync', '-a', '--delete', '--stats', '--mkpath']);
    expect(argv.at(-2)).toBe('/s/final/');
    expect(argv.at(-1)).toBe('root@198.18.1.12:/d/final/');
    const ssh = argv[argv.indexOf('-e') + 1] ?? '';
    expect(ssh).toContain('ControlPath=/var/lib/edgectl/m/1/src.ssh');
    expect(ssh).toContain('StrictHostKeyChecking=yes');
    expect(argv).not.toContain('--no-whole-file');
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

  it('counts the bytes of a transfer both ways', () => {
    const stats = 'Literal data: 109,538 bytes\nTotal bytes sent: 147,135\nTotal bytes received: 62,701\n';
    expect(parseRsyncBytes(stats)).toBe(147_135 + 62_701);
    expect(parseRsyncBytes('Total bytes sent: 12\n')).toBe(12);
    expect(parseRsyncBytes('nothing here')).toBeUndefined();
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

  it('quotes every word of rsync’s -e so that rsync itself splits it back (a path with a space)', async () => {
    // A real rsync, with an `ssh` on PATH that only records the argv rsync gives it and fails: nothing
    // leaves this machine.
    const dir = await mkdtemp(path.join(tmpdir(), 'edgectl rsync '));
    try {
      const bin = path.join(dir, 'bin');
      await mkdir(bin);
      await mkdir(path.join(dir, 'src'));
      const record = path.join(dir, 'argv');
      await writeFile(
        path.join(bin, 'ssh'),
        `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > "$RECORD"\nexit 1\n`,
      );
      await chmod(path.join(bin, 'ssh'), 0o755);
      const spaced: RsyncTarget = {
        ...target,
        key: '/etc/edgectl/my lab/id_ed25519',
        knownHosts: '/etc/edgectl/my lab/known_hosts',
        controlPath: `${dir}/m 1.ssh`,
      };
      const argv = rsyncArgv(path.join(dir, 'src'), spaced, '/d/final');
      const run = promisify(execFile)(argv[0] ?? 'rsync', argv.slice(1), {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, RECORD: record },
      });
      await expect(run).rejects.toThrow();
      const words = (await readFile(record, 'utf8')).split('\n');
      expect(words.slice(0, 4)).toEqual(['-i', spaced.key, '-o', `UserKnownHostsFile=${spaced.knownHosts}`]);
      expect(words).toContain(`ControlPath=${spaced.controlPath}`);
      expect(words).toContain('198.18.1.12');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a single quote in rsync’s -e rather than have rsync split it wrongly', () => {
    expect(() => rsyncShell({ ...target, key: "/etc/edgectl/bob's/id" })).toThrow(/single quote/);
    expect(rsyncShell(target).startsWith('ssh -i /etc/edgectl/t/id_ed25519 -o ')).toBe(true);
  });
});
