import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChecksReport } from '../../src/lib/hosts/check.js';
import { edgectl } from '../helpers/cli.js';
import { freePort, startSshd, type TestSshd } from '../helpers/sshd.js';

let sshd: TestSshd;
let dir: string;
let hostsFile: string;

beforeAll(async () => {
  sshd = await startSshd(['127.0.0.1', '127.0.0.2']);
  dir = mkdtempSync(join(tmpdir(), 'edgectl-check-'));
  hostsFile = join(dir, 'hosts.yml');
  const closed = await freePort();
  writeFileSync(
    hostsFile,
    `testbed: sshd-test
defaults:
  ssh: { user: ${sshd.user}, port: ${sshd.port}, identityFile: ${sshd.identityFile}, knownHosts: ${sshd.knownHosts}, connectTimeoutMs: 2000 }
hosts:
  # this machine as an access point: needs root, tc with HTB, iptables
  - { name: box, role: ap, address: 127.0.0.1 }
  # the same machine as an edge server: also needs a running dockerd with experimental mode, criu, rsync, xdelta3
  - name: srv
    role: edge
    address: 127.0.0.2
    capacity: { cpus: 1, memMB: 512 }
  # nothing listens here
  - { name: gone, role: mu, address: 127.0.0.3, ssh: { port: ${closed} } }
`,
  );
});

afterAll(async () => {
  await sshd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('edgectl hosts check against a real sshd', () => {
  it('reports each host ready or not, with the reasons, and exits 4 (one host unreachable)', async () => {
    const r = await edgectl<ChecksReport>(['hosts', 'check', '-f', hostsFile, '--json']);
    expect(r.exitCode).toBe(4);
    expect(r.json?.status).toBe(4);
    const report = r.json?.result;
    expect(report?.ready).toBe(false);
    const byName = Object.fromEntries((report?.hosts ?? []).map((h) => [h.name, h]));

    const box = byName['box'];
    expect(box?.reachable).toBe(true);
    expect(box?.root).toBe(true);
    expect(box?.htb).toBe(true);
    expect(box?.iptables?.ok).toBe(true);
    expect(box?.errors).toEqual([]);
    expect(box?.ready).toBe(true);
    // How latency can be emulated is probed, not assumed: netem where the kernel has it, else edgectl-delay
    // (install-host-deps.sh built it on this machine); where neither works, a warning says so.
    expect(typeof box?.netem).toBe('boolean');
    expect(box?.latency?.helper).toMatchObject({ ok: true, current: true });
    expect(box?.latency?.nfqueue).toBe(true);
    expect(box?.latency?.method).toBe(box?.netem ? 'netem' : 'nfqueue');
    expect(box?.latency?.running).toBeNull();
    expect(r.json?.warnings.join()).not.toMatch(/box: link latency cannot be emulated/);

    const srv = byName['srv'];
    expect(srv?.reachable).toBe(true);
    expect(srv?.criu?.ok).toBe(true);
    expect(srv?.criu?.version).toMatch(/^\d+\.\d+/);
    expect(srv?.rsync?.ok).toBe(true);
    expect(srv?.xdelta3?.ok).toBe(true);
    // iputils ping, the monitor's probe (install-host-deps.sh installs it for every role).
    expect(srv?.ping).toMatchObject({ ok: true, version: expect.stringMatching(/^\d{8}$/) });
    expect(r.json?.warnings.join()).not.toMatch(/iputils/);
    // No dockerd runs in this machine's own namespace during the tests.
    expect(srv?.docker?.ok).toBe(false);
    expect(srv?.errors.some((e) => /docker/.test(e))).toBe(true);
    expect(srv?.ready).toBe(false);

    const gone = byName['gone'];
    expect(gone?.reachable).toBe(false);
    expect(gone?.ssh.reason).toBe('refused');
    expect(gone?.errors[0]).toMatch(/refused/);
    expect(gone?.ready).toBe(false);
  });

  it('exits 6 when every host checked answers but one is not ready', async () => {
    const r = await edgectl<ChecksReport>([
      'hosts',
      'check',
      '-f',
      hostsFile,
      '--host',
      'box',
      '--host',
      'srv',
      '--json',
    ]);
    expect(r.exitCode).toBe(6);
    expect(r.json?.result?.hosts.map((h) => [h.name, h.reachable, h.ready])).toEqual([
      ['box', true, true],
      ['srv', true, false],
    ]);
  });

  it('exits 0 when every host checked is ready, and leaves no probe interface behind', async () => {
    const r = await edgectl<ChecksReport>(['hosts', 'check', '-f', hostsFile, '--host', 'box', '--json']);
    expect(r.exitCode).toBe(0);
    expect(r.json?.result?.hosts.map((h) => h.name)).toEqual(['box']);
    const links = await import('node:child_process').then((cp) =>
      cp.execFileSync('ip', ['-o', 'link']).toString(),
    );
    expect(links).not.toMatch(/edgepr/);
  });

  it('prints a readable table on a terminal', async () => {
    const r = await edgectl(['hosts', 'check', '-f', hostsFile, '--verbose']);
    expect(r.exitCode).toBe(4);
    // --verbose logs every remote command with its exit code and time on stderr.
    expect(r.stderr).toMatch(/\[box\] iptables --version -> 0 \(\d+ ms\)/);
    expect(r.stdout).toMatch(/HOST\s+ROLE\s+SSH/);
    expect(r.stdout).toMatch(/box\s+ap\s+ok/);
    expect(r.stdout).toMatch(/gone\s+mu\s+refused/);
    expect(r.stdout).toMatch(/2 of 3 hosts are not ready/);
  });

  it('says a server whose /etc/criu/runc.conf lacks skip-in-flight is not ready for migrations', async () => {
    const conf = '/etc/criu/runc.conf';
    const original = readFileSync(conf, 'utf8');
    try {
      writeFileSync(conf, original.replace(/^\s*skip-in-flight\s*$/m, ''));
      const r = await edgectl<ChecksReport>(['hosts', 'check', '-f', hostsFile, '--host', 'srv', '--json']);
      const srv = r.json?.result?.hosts[0];
      expect(srv?.criu?.ok).toBe(false);
      expect(srv?.errors.join('\n')).toMatch(/runc\.conf lacks skip-in-flight: checkpoints .* fail/);
    } finally {
      writeFileSync(conf, original);
    }
  });

  it('refuses an unknown --host with a usage error', async () => {
    const r = await edgectl(['hosts', 'check', '-f', hostsFile, '--host', 'nope', '--json']);
    expect(r.exitCode).toBe(2);
    expect(r.json?.error?.message).toMatch(/unknown host nope/);
  });
});
