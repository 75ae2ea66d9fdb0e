/**
 * install-host-deps.sh --role mu on the lab's mu host, run as provision --install-deps runs it (piped over
 * SSH): node and the edgectl offload runs there (the lab's $EDGECTL_BIN) are found and reported.
 */
import { describe, expect, it } from 'vitest';
import { edgectl } from '../helpers/cli.js';
import { hostsFile } from '../helpers/lab.js';

interface InstallResult {
  hosts: { name: string; role: string; ok: boolean; code: number; output: string }[];
}

describe('host dependencies of a mu host', () => {
  it('finds a node >= 20 and the edgectl that offload runs there', async () => {
    const r = await edgectl<InstallResult>([
      'provision',
      '-f',
      hostsFile,
      '--install-deps',
      '--host',
      'mu',
      '--json',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    const mu = r.json?.result?.hosts[0];
    expect(mu).toMatchObject({ name: 'mu', role: 'mu', ok: true, code: 0 });
    expect(mu?.output).toMatch(/^node\s+\S+\s+v(2\d|[3-9]\d)\./m);
    expect(mu?.output).toMatch(/^edgectl\s+\S+\s+edgectl\/\d+\.\d+\.\d+ /m);
  });
});
