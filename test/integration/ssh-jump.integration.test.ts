/**
 * A lab host that the controller cannot reach, reached through another one (ssh.jump), as a rack behind
 * a gateway: edge2's own firewall rejects SSH from the controller's address, cloud forwards to it. Every
 * path edgectl opens to edge2 (commands, persistent shells, docker's dial-stdio, data channels) then
 * goes through cloud.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerFor } from '../../src/lib/docker/client.js';
import type { DeployResult } from '../../src/lib/docker/deploy.js';
import { LABEL } from '../../src/lib/docker/deploy.js';
import type { ChecksReport } from '../../src/lib/hosts/check.js';
import { getHost, type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import type { LabHostPlan, LabPlan } from '../../src/lib/lab/plan.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { edgectl } from '../helpers/cli.js';
import { hostsFile, labInventory, writeVariantInventory } from '../helpers/lab.js';

const HIDDEN = 'edge2';
const GATEWAY = 'cloud';
/** Marks the one rule this test adds, so that it removes that rule and nothing else. */
const COMMENT = 'edgectl-test-ssh-jump';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-jump-'));
const stateFile = join(dir, 'state.db');
const jumpFile = join(dir, 'hosts-jump.yml');
const pool = new SshPool();
let plan: LabPlan;
let hidden: LabHostPlan;
let jumpInv: Inventory;

/** The iptables rule, in edge2's namespace: SSH from the controller's address rejected at once. */
function ruleArgv(action: '-I' | '-D'): string[] {
  const controller = plan.controller.address;
  // Only lab addresses: the controller's, on the lab's management network (198.18.0.0/15).
  if (!controller.startsWith('198.18.') && !controller.startsWith('198.19.'))
    throw new Error(`the lab's controller address ${controller} is outside 198.18.0.0/15`);
  return [
    'netns',
    'exec',
    hidden.ns,
    'iptables',
    action,
    'INPUT',
    ...(action === '-I' ? ['1'] : []),
    '-s',
    `${controller}/32`,
    '-p',
    'tcp',
    '--dport',
    String(hidden.sshPort),
    '-m',
    'comment',
    '--comment',
    COMMENT,
    '-j',
    'REJECT',
    '--reject-with',
    'tcp-reset',
  ];
}

async function removeRule(): Promise<void> {
  // Deleted until none is left (an earlier run that died may have left one).
  for (let i = 0; i < 10; i++) {
    const r = await execa('ip', ruleArgv('-D'), { reject: false });
    if (r.exitCode !== 0) return;
  }
}

function cli<T>(args: string[], hosts: string) {
  return edgectl<T>([...args, '-f', hosts, '--state', stateFile, '--json']);
}

beforeAll(async () => {
  ({ plan } = await labInventory());
  const h = plan.hosts.find((x) => x.name === HIDDEN);
  if (!h) throw new Error(`the lab has no host ${HIDDEN}`);
  hidden = h;
  writeVariantInventory(jumpFile, (doc) => {
    const hosts = doc.get('hosts') as { items: { get(k: string): unknown }[] };
    const index = hosts.items.findIndex((item) => item.get('name') === HIDDEN);
    doc.setIn(['hosts', index, 'ssh'], doc.createNode({ jump: GATEWAY }));
  });
  jumpInv = await loadInventory(jumpFile);
  await removeRule();
  await execa('ip', ruleArgv('-I'));
});

afterAll(async () => {
  try {
    await cli(['undeploy', '--user', 'mu1'], jumpFile).catch(() => {});
  } finally {
    await removeRule();
    await pool.closeAll();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('a lab host reached only through a jump host', () => {
  it('cannot be reached directly: hosts check exits 4', async () => {
    const r = await cli<ChecksReport>(['hosts', 'check', '--host', HIDDEN], hostsFile);
    expect(r.exitCode).toBe(4);
    const report = r.json?.result?.hosts.find((x) => x.name === HIDDEN);
    expect(report?.reachable).toBe(false);
    expect(report?.ssh).toMatchObject({ ok: false, reason: 'refused' });
  });

  it('is checked through the gateway, its host key verified like a direct one', async () => {
    expect(getHost(jumpInv, HIDDEN).ssh.via?.map((hop) => hop.name)).toEqual([GATEWAY]);
    const r = await cli<ChecksReport>(['hosts', 'check', '--host', HIDDEN], jumpFile);
    expect(r.json?.result?.hosts[0]?.errors).toEqual([]);
    expect(r.exitCode).toBe(0);
    expect(r.json?.result?.hosts[0]).toMatchObject({ name: HIDDEN, reachable: true, ready: true });
  });

  it('takes a deploy and an undeploy of a user whose service lands there', async () => {
    expect((await cli(['provision'], jumpFile)).exitCode).toBe(0);
    await cli(['undeploy', '--user', 'mu1'], jumpFile);
    const d = await cli<DeployResult>(
      ['deploy', '--user', 'mu1', '--service', 'simple', '--host', HIDDEN],
      jumpFile,
    );
    expect(d.json?.error).toBeUndefined();
    expect(d.exitCode).toBe(0);
    expect(d.json?.result).toMatchObject({ user: 'mu1', host: HIDDEN });

    // Docker over SSH goes through the gateway too (the direct path is closed).
    const docker = dockerFor(pool, getHost(jumpInv, HIDDEN));
    const filters = { label: [`${LABEL.testbed}=${jumpInv.testbed}`, `${LABEL.user}=mu1`] };
    const running = await docker.listContainers({ filters });
    expect(running.map((c) => c.State)).toEqual(['running']);

    const u = await cli(['undeploy', '--user', 'mu1'], jumpFile);
    expect(u.exitCode).toBe(0);
    expect(await docker.listContainers({ all: true, filters })).toEqual([]);
  });
});
