import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getHost, type Inventory, parseInventory } from '../../src/lib/inventory/index.js';
import { type LabPlan, provisionedKeys } from '../../src/lib/lab/plan.js';
import {
  closeChannelArgv,
  closeMasterArgv,
  openChannelArgv,
  receiverPath,
  sendArgv,
  stagingRoot,
} from '../../src/lib/migration/commands.js';
import type { OffloadResult } from '../../src/lib/mu/offload.js';
import { legacyKeyMarker, testbedKeyMarker, writeKeyArgv } from '../../src/lib/provision/authorized-keys.js';
import { currentBasestation, setUserBasestation } from '../../src/lib/provision/paths.js';
import { serverKnownHosts, trustDirOnHost, trustUnits } from '../../src/lib/provision/plan.js';
import { convergeUnits, type ProvisionResult } from '../../src/lib/provision/provision.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { readOwnPrivateKey } from '../../src/lib/remote/keys.js';
import { edgectl } from '../helpers/cli.js';
import { hostsFile, labInventory } from '../helpers/lab.js';
import { bulkRate, netSnapshot } from '../helpers/net.js';

const pool = new SshPool();
let inv: Inventory;
let plan: LabPlan;
const planHost = (name: string) => plan.hosts.find((h) => h.name === name)!;
let before: Map<string, string>;
const stateDir = mkdtempSync(join(tmpdir(), 'edgectl-provision-'));
const stateFile = join(stateDir, 'state.db');

async function snapshots(): Promise<Map<string, string>> {
  const all = await Promise.all(
    inv.hosts.map(async (h) => [h.name, await netSnapshot(pool.executor(h))] as const),
  );
  return new Map(all);
}

async function provisionCli(...args: string[]) {
  return edgectl<ProvisionResult>(['provision', '-f', hostsFile, '--json', ...args]);
}

/** edgectl on the lab's inventory with this file's state database. */
function cli<T>(args: string[]) {
  return edgectl<T>([...args, '-f', hostsFile, '--state', stateFile, '--json']);
}

/** One task from user mu1's own address on the mu host to its service; what the service saw. */
async function taskFromMu1(): Promise<{ counter: number; peer: string }> {
  const r = await cli<OffloadResult>(['offload', '--user', 'mu1']);
  expect(r.exitCode, r.stderr).toBe(0);
  const task = r.json?.result?.tasks[0];
  return { counter: task?.counter ?? -1, peer: task?.peer ?? '' };
}

beforeAll(async () => {
  ({ inv, plan } = await labInventory());
  // Start from a lab no provisioning has touched (another test file may have provisioned it).
  const reset = await provisionCli('--reset');
  expect(reset.exitCode, reset.stderr).toBe(0);
  before = await snapshots();
});

afterAll(async () => {
  await cli(['undeploy', '--user', 'mu1']);
  await pool.closeAll();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('edgectl provision on the lab', () => {
  it('provisions every host, saying where latency cannot be emulated', async () => {
    const r = await provisionCli();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result?.ok).toBe(true);
    for (const h of r.json?.result?.hosts ?? []) {
      expect(h.changed, h.name).toBe(true);
      expect(h.error, h.name).toBeUndefined();
      if (h.role !== 'mu') {
        // netem where the kernel has it, else edgectl-delay: the result says which, per host.
        expect([h.name, h.latencyEmulated, h.latencyMethod]).toEqual([
          h.name,
          true,
          expect.stringMatching(/^(netem|nfqueue)$/),
        ]);
      } else expect(h.latencyMethod).toBeNull();
    }
  });

  it('lets a server send migration data to another over the data network with the testbed key, and nothing else', async () => {
    const edge1 = pool.executor(getHost(inv, 'edge1'));
    const edge2 = getHost(inv, 'edge2');
    const trust = trustDirOnHost(inv);
    const key = ['-i', `${trust}/id_ed25519`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes'];
    // The line: the receiver only, from the servers' data addresses (the lab's own file of edge2).
    const line = readFileSync(provisionedKeys(plan, planHost('edge2')), 'utf8')
      .split('\n')
      .find((l) => l.endsWith(` ${testbedKeyMarker(inv.testbed)}`));
    expect(line).toMatch(
      new RegExp(
        `^from="198\\.18\\.1\\.10,198\\.18\\.1\\.11,198\\.18\\.1\\.12,198\\.18\\.1\\.13",restrict,command="${receiverPath(inv.testbed)}" ssh-ed25519 `,
      ),
    );
    // Any other command is refused by the receiver, which says why.
    const shell = await edge1.run(
      [
        'ssh',
        ...key,
        '-o',
        `UserKnownHostsFile=${trust}/known_hosts`,
        `root@${edge2.dataAddress}`,
        'echo "$EDGECTL_LAB_HOST"',
      ],
      { timeoutMs: 20_000 },
    );
    expect([shell.code, shell.stdout]).toEqual([2, '']);
    expect(shell.stderr).toContain('edgectl-receive: this key only receives migration data');
    // From the management network the key is not accepted at all (from=).
    const mgmt = await edge1.run(
      ['ssh', ...key, '-o', `UserKnownHostsFile=${edge2.ssh.knownHosts}`, `root@${edge2.address}`, 'true'],
      { timeoutMs: 20_000 },
    );
    expect(mgmt.code).toBe(255);
    expect(mgmt.stderr).toMatch(/Permission denied \(publickey\)/);
    // A migration's two data channels, the second over the first one's connection (ControlMaster), then
    // the connection ended with `ssh -O exit`.
    const id = `test-${process.pid}`;
    const src = `${stagingRoot(inv.testbed)}/${id}/src`;
    const dst = `${stagingRoot(inv.testbed)}/${id}/dst`;
    const target = {
      user: 'root',
      address: edge2.dataAddress,
      port: edge2.ssh.port,
      key: `${trust}/id_ed25519`,
      knownHosts: `${trust}/known_hosts`,
      controlPath: `${src}.ssh`,
    };
    try {
      expect((await edge1.run(['mkdir', '-p', `${src}/data`])).code).toBe(0);
      writeFileSync(`${src}/data/f`, 'migration data');
      for (const leaf of ['pre', 'in']) {
        const open = await edge1.run(openChannelArgv(`${src}/channel-${leaf}`, target, `${dst}/${leaf}`), {
          timeoutMs: 30_000,
        });
        expect(open.code, open.stderr).toBe(0);
        const sent = await edge1.run(sendArgv(`${src}/channel-${leaf}`, `${src}/data`), {
          timeoutMs: 30_000,
        });
        expect(sent.code, sent.stderr).toBe(0);
        expect(readFileSync(`${dst}/${leaf}/f`, 'utf8')).toBe('migration data');
        expect(statSync(`${dst}/${leaf}`).mode & 0o777).toBe(0o700);
        if (leaf === 'pre') {
          const check = await edge1.run([
            'ssh',
            '-o',
            `ControlPath=${target.controlPath}`,
            '-O',
            'check',
            'x',
          ]);
          expect(check.code, `a master connection after the first channel: ${check.stderr}`).toBe(0);
        }
      }
      // A channel into a directory that exists is refused (nothing that an earlier session left is followed).
      const again = await edge1.run(openChannelArgv(`${src}/channel-again`, target, `${dst}/in`), {
        timeoutMs: 30_000,
      });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('exists already');
      for (const c of ['pre', 'in', 'again']) await edge1.run(closeChannelArgv(`${src}/channel-${c}`));
      expect((await edge1.run(closeMasterArgv(target), { timeoutMs: 10_000 })).code).toBe(0);
      const gone = await edge1.run(['ssh', '-o', `ControlPath=${target.controlPath}`, '-O', 'check', 'x']);
      expect(gone.code).not.toBe(0);
    } finally {
      await edge1.run(['rm', '-rf', `${stagingRoot(inv.testbed)}/${id}`]);
    }
  });

  it('a second provision changes nothing and runs no command', async () => {
    const r = await provisionCli();
    expect(r.exitCode).toBe(0);
    expect(r.json?.result?.changed).toBe(false);
    for (const h of r.json?.result?.hosts ?? []) expect([h.name, h.commands]).toEqual([h.name, []]);
    const dry = await provisionCli('--dry-run');
    expect(dry.json?.result?.changed).toBe(false);
  });

  it('shapes bulk data to the link bandwidth: edge1 to cloud 75 Mbit/s, edge1 to edge2 100 Mbit/s (+10%)', async () => {
    const edge1 = pool.executor(getHost(inv, 'edge1'));
    // With the 300 ms round trip to the cloud emulated, TCP needs seconds to ramp up: 10 s, not 3.
    const toCloud = await bulkRate(
      edge1,
      pool.executor(getHost(inv, 'cloud')),
      getHost(inv, 'cloud').dataAddress,
      5201,
      10,
    );
    const toEdge2 = await bulkRate(
      edge1,
      pool.executor(getHost(inv, 'edge2')),
      getHost(inv, 'edge2').dataAddress,
      5202,
      3,
    );
    process.stderr.write(
      `bulk TCP: edge1 -> cloud ${(toCloud / 1e6).toFixed(1)} Mbit/s, edge1 -> edge2 ${(toEdge2 / 1e6).toFixed(1)} Mbit/s\n`,
    );
    expect(toCloud).toBeLessThanOrEqual(75e6 * 1.1);
    expect(toCloud).toBeGreaterThan(75e6 * 0.5);
    expect(toEdge2).toBeLessThanOrEqual(100e6 * 1.1);
    expect(toEdge2).toBeGreaterThan(100e6 * 0.5);
  });

  it("carries a user's task through its AP (the service sees the AP's NAT address), and through ap2 after one rule change", async () => {
    const deployed = await cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge1']);
    expect(deployed.exitCode, deployed.stderr).toBe(0);
    expect(await currentBasestation(inv, pool, 'mu1')).toBe('ap1');
    const first = await taskFromMu1();
    expect(first.peer).toBe(getHost(inv, 'ap1').dataAddress);
    expect(await setUserBasestation(inv, pool, 'mu1', 'ap2')).toEqual({ from: 'ap1', to: 'ap2' });
    const second = await taskFromMu1();
    expect(second.peer).toBe(getHost(inv, 'ap2').dataAddress);
    expect(second.counter).toBe(first.counter + 1);
    // A provision after the handover leaves the user where it is.
    const again = await provisionCli();
    expect(again.json?.result?.changed).toBe(false);
    expect(await currentBasestation(inv, pool, 'mu1')).toBe('ap2');
    // Docker's port rules would show in the snapshots compared below.
    expect((await cli(['undeploy', '--user', 'mu1'])).exitCode).toBe(0);
  });

  it('a host it cannot provision fails with the reason, and the others stay consistent', async () => {
    const mu = pool.executor(getHost(inv, 'mu'));
    await mu.run(['tc', 'qdisc', 'del', 'dev', 'r-ap3', 'root']);
    await mu.run(['tc', 'qdisc', 'add', 'dev', 'r-ap3', 'root', 'handle', '1:', 'pfifo']);
    try {
      const r = await provisionCli();
      expect(r.exitCode).toBe(5);
      const hosts = r.json?.result?.hosts ?? [];
      const failed = hosts.find((h) => h.name === 'mu');
      expect(failed?.error?.message).toMatch(/r-ap3 has a root qdisc of somebody else's \(pfifo 1:\)/);
      for (const h of hosts.filter((x) => x.name !== 'mu'))
        expect([h.name, h.error, h.changed]).toEqual([h.name, undefined, false]);
    } finally {
      await mu.run(['tc', 'qdisc', 'del', 'dev', 'r-ap3', 'root']);
    }
    expect((await provisionCli()).exitCode).toBe(0);
  });

  it('two testbeds on the same hosts (one name extending the other): neither loses its key; a reset removes only its own', async () => {
    const servers = inv.hosts.filter((h) => h.isServer);
    const other = parseInventory(
      readFileSync(hostsFile, 'utf8').replace(/^testbed: .*$/m, `testbed: ${inv.testbed}-2`),
      hostsFile,
    );
    const keyDir = mkdtempSync(join(tmpdir(), 'edgectl-other-testbed-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'x', '-f', join(keyDir, 'id')]);
    const material = {
      ...(await readOwnPrivateKey(join(keyDir, 'id'))),
      knownHosts: serverKnownHosts(
        other,
        new Map(
          await Promise.all(servers.map(async (h) => [h.name, (await pool.connect(h)).hostKey] as const)),
        ),
      ),
    };
    rmSync(keyDir, { recursive: true, force: true });
    const files = servers.map((h) => provisionedKeys(plan, planHost(h.name)));
    const foreign = `ssh-ed25519 AAAAforeign somebody ${testbedKeyMarker(inv.testbed)}-old`;
    const ours = (file: string, testbed: string) =>
      readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.split(' ').at(-1) === testbedKeyMarker(testbed));
    try {
      // This testbed's line taken away (a line that is not edgectl's put in), so that both write at once.
      for (const h of servers) {
        const r = await pool
          .executor(h)
          .run(writeKeyArgv(foreign, `${testbedKeyMarker(inv.testbed)}-old`, 'none'));
        expect(r.code, r.stderr).toBe(0);
        const gone = await pool
          .executor(h)
          .run(writeKeyArgv('', testbedKeyMarker(inv.testbed), legacyKeyMarker(inv.testbed)));
        expect(gone.code, gone.stderr).toBe(0);
      }
      const [mine, ...theirs] = await Promise.all([
        provisionCli(),
        ...servers.map((h) => convergeUnits(pool.executor(h), trustUnits(other, material))),
      ]);
      expect(mine?.exitCode, mine?.stderr).toBe(0);
      for (const t of theirs) expect([t.name, t.error, t.changed]).toEqual([t.name, undefined, true]);
      for (const f of files) {
        expect(ours(f, inv.testbed), f).toHaveLength(1);
        expect(ours(f, other.testbed), f).toHaveLength(1);
        expect(readFileSync(f, 'utf8')).toContain(`${foreign}\n`);
      }
      expect(statSync(receiverPath(other.testbed)).mode & 0o7777).toBe(0o755);
      // The other testbed reset: its line, receiver and key gone, this one's untouched.
      const reset = await Promise.all(
        servers.map((h) => convergeUnits(pool.executor(h), trustUnits(other, material), { reset: true })),
      );
      for (const t of reset) expect([t.name, t.error]).toEqual([t.name, undefined]);
      for (const f of files) {
        expect(ours(f, inv.testbed), f).toHaveLength(1);
        expect(ours(f, other.testbed), f).toHaveLength(0);
        expect(readFileSync(f, 'utf8')).toContain(`${foreign}\n`);
      }
      expect(existsSync(receiverPath(other.testbed))).toBe(false);
      expect(existsSync(receiverPath(inv.testbed))).toBe(true);
      expect(existsSync(trustDirOnHost(other))).toBe(false);
      expect((await provisionCli()).json?.result?.changed).toBe(false);
    } finally {
      await Promise.all(
        servers.map((h) => convergeUnits(pool.executor(h), trustUnits(other, material), { reset: true })),
      );
      for (const h of servers)
        await pool.executor(h).run(writeKeyArgv('', `${testbedKeyMarker(inv.testbed)}-old`, 'none'));
    }
  });

  it('an authorized_keys that cannot be written is left as it was, and provision says so', async () => {
    const file = provisionedKeys(plan, planHost('edge2'));
    // Lines of somebody else's and an unrestricted line of an older edgectl: the host needs its line rewritten.
    const before = `ssh-ed25519 AAAAsomebody else\nssh-ed25519 AAAAold ${legacyKeyMarker(inv.testbed)}\n`;
    writeFileSync(file, before);
    // The keys directory read-only (sshd reads on; nothing can be written there).
    execFileSync('mount', ['--bind', plan.keysDir, plan.keysDir]);
    try {
      execFileSync('mount', ['-o', 'remount,bind,ro', plan.keysDir]);
      const r = await provisionCli();
      expect(r.exitCode).toBe(5);
      const hosts = r.json?.result?.hosts ?? [];
      const edge2 = hosts.find((h) => h.name === 'edge2');
      expect(edge2?.error?.message).toMatch(/^authorized key: `.*` exited with 1$/s);
      expect(edge2?.error?.stderr).toBe(
        `edgectl: cannot open the lock ${file}.edgectl-lock; ${file} is left as it was`,
      );
      for (const h of hosts.filter((x) => x.name !== 'edge2'))
        expect([h.name, h.error, h.changed]).toEqual([h.name, undefined, false]);
      expect(readFileSync(file, 'utf8')).toBe(before);
    } finally {
      execFileSync('umount', [plan.keysDir]);
    }
    const again = await provisionCli();
    expect(again.exitCode, again.stderr).toBe(0);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('ssh-ed25519 AAAAsomebody else');
    expect(lines.slice(1).map((l) => l.split(' ').at(-1))).toEqual([testbedKeyMarker(inv.testbed)]);
    writeFileSync(file, `${lines.slice(1).join('\n')}\n`);
  });

  it('--reset restores every host to exactly its state before the first provision', async () => {
    const r = await provisionCli('--reset');
    expect(r.exitCode, r.stderr).toBe(0);
    const after = await snapshots();
    for (const h of inv.hosts) expect(after.get(h.name), h.name).toBe(before.get(h.name));
    const again = await provisionCli('--reset');
    expect(again.json?.result?.changed).toBe(false);
  });

  it('--install-deps runs the host dependency script for the host role', async () => {
    const r = await edgectl<{ hosts: { name: string; ok: boolean; code: number }[] }>([
      'provision',
      '-f',
      hostsFile,
      '--install-deps',
      '--host',
      'ap1',
      '--json',
    ]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result?.hosts).toMatchObject([{ name: 'ap1', ok: true, code: 0 }]);
  });
});
