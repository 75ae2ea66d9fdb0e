import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerFor } from '../../src/lib/docker/client.js';
import type { DeployResult } from '../../src/lib/docker/deploy.js';
import { containerName, LABEL } from '../../src/lib/docker/deploy.js';
import { getHost, type Inventory } from '../../src/lib/inventory/index.js';
import { loadFrames } from '../../src/lib/mu/frames.js';
import type { OffloadResult } from '../../src/lib/mu/offload.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { openState } from '../../src/lib/state/index.js';
import type { StatusResult } from '../../src/lib/status/status.js';
import { edgectl, repoRoot } from '../helpers/cli.js';
import { hostsFile, labInventory, SECOND_USER, writeVariantInventory } from '../helpers/lab.js';

const pool = new SshPool();
const dir = mkdtempSync(join(tmpdir(), 'edgectl-deploy-'));
const stateFile = join(dir, 'state.db');
/** The repository's testbed with a second user, mu2, offloading to the simple service. */
const twoUsersFile = join(dir, 'hosts-two-users.yml');
let inv: Inventory;

function cli<T>(args: string[], hosts = hostsFile) {
  return edgectl<T>([...args, '-f', hosts, '--state', stateFile, '--json']);
}

/** Deploys simple for mu1 on a server. */
function deployMu1(host: string) {
  return cli<DeployResult>(['deploy', '--user', 'mu1', '--service', 'simple', '--host', host]);
}

/** The containers of this testbed's users on a server. */
async function userContainers(host: string): Promise<string[]> {
  const list = await dockerFor(pool, getHost(inv, host)).listContainers({
    all: true,
    filters: { label: [`${LABEL.testbed}=${inv.testbed}`, LABEL.user] },
  });
  return list.map((c) => c.Names[0] ?? '');
}

beforeAll(async () => {
  ({ inv } = await labInventory());
  // Appended, with an address and a host port of its own (mu1 keeps its defaults: 198.18.10.10, 20000).
  writeVariantInventory(twoUsersFile, (doc) =>
    doc.addIn(['users'], {
      ...SECOND_USER,
      address: '198.18.10.77',
      port: 21077,
      // Camera frames instead of seeded bytes (simple takes any payload): read and scaled on the mu host.
      task: { frames: 'samples', frameWidth: 320 },
    }),
  );
  expect((await edgectl(['provision', '-f', hostsFile, '--json'])).exitCode).toBe(0);
  for (const user of ['mu1', 'mu2']) await cli(['undeploy', '--user', user], twoUsersFile);
});

afterAll(async () => {
  for (const user of ['mu1', 'mu2']) await cli(['undeploy', '--user', user], twoUsersFile).catch(() => {});
  // Back to the repository's testbed: mu2's address and path go away.
  await edgectl(['provision', '-f', hostsFile, '--json']);
  await pool.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('deploy failures leave nothing behind', () => {
  it('an unknown service, an unknown host: usage errors', async () => {
    const s = await cli(['deploy', '--user', 'mu1', '--service', 'nope', '--host', 'edge1']);
    expect(s.exitCode).toBe(2);
    expect(s.json?.error?.message).toMatch(/unknown service "?nope"?/i);
    const h = await cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge9']);
    expect(h.exitCode).toBe(2);
    expect(h.json?.error?.message).toMatch(/edge9/);
    const ap = await cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'ap1']);
    expect(ap.exitCode).toBe(2);
  });

  it('a server whose dockerd is down: a clear error', async () => {
    const { plan } = await labInventory().then(async (x) => ({
      ...x,
      plan: (await import('../../src/lib/lab/plan.js')).planLab(x.inv),
    }));
    const edge3 = plan.hosts.find((h) => h.name === 'edge3')!;
    const pid = Number(readFileSync(edge3.docker!.pidFile, 'utf8'));
    process.kill(pid, 'SIGKILL');
    try {
      const r = await cli(['deploy', '--user', 'mu1', '--service', 'simple', '--host', 'edge3']);
      expect(r.exitCode).toBe(5);
      expect(r.json?.error?.code).toBe('DOCKER_UNAVAILABLE');
      expect(r.json?.error?.message).toMatch(/dockerd of edge3 does not answer/);
    } finally {
      // lab up starts the dead daemon again (and only that).
      const up = await edgectl(['lab', 'up', '-f', hostsFile, '--json']);
      expect(up.exitCode, up.stderr).toBe(0);
    }
    expect(await userContainers('edge3')).toEqual([]);
  });

  it('no placement was recorded and no container created', async () => {
    const s = openState(stateFile);
    expect(s.placements.list()).toEqual([]);
    s.close();
    for (const host of ['edge1', 'edge3']) expect(await userContainers(host)).toEqual([]);
  });
});

describe('deploy and offload', () => {
  it('deploys simple for mu1 on edge1, and again returns the same container', async () => {
    const r = await deployMu1('edge1');
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result).toMatchObject({ user: 'mu1', service: 'simple', host: 'edge1', already: false });
    expect(r.json?.result?.endpoint.address).toBe(getHost(inv, 'edge1').dataAddress);
    const again = await deployMu1('edge1');
    expect(again.json?.result?.already).toBe(true);
    expect(again.json?.result?.containerId).toBe(r.json?.result?.containerId);
  });

  it('offloads through ap1: counters 1..5, then 6..8, every task in the database with its timings', async () => {
    const started = Date.now();
    const five = await cli<OffloadResult>(['offload', '--user', 'mu1', '--count', '5']);
    expect(five.exitCode, five.stderr).toBe(0);
    expect(five.json?.result?.bs).toBe('ap1');
    expect(five.json?.result?.tasks.map((t) => t.counter)).toEqual([1, 2, 3, 4, 5]);
    const three = await cli<OffloadResult>(['offload', '--user', 'mu1', '--count', '3']);
    expect(three.json?.result?.tasks.map((t) => t.counter)).toEqual([6, 7, 8]);
    for (const t of [...(five.json?.result?.tasks ?? []), ...(three.json?.result?.tasks ?? [])]) {
      expect(t.ok).toBe(true);
      expect(t.procMs).toBeGreaterThanOrEqual(0);
      expect(t.txMs).toBeCloseTo(t.e2eMs - (t.procMs ?? 0), 6);
    }
    const s = openState(stateFile);
    const rows = s.tasks.forUser('mu1', started - 1000);
    s.close();
    expect(rows.map((t) => [t.counter, t.bs, t.host, t.ok])).toEqual(
      [1, 2, 3, 4, 5, 6, 7, 8].map((c) => [c, 'ap1', 'edge1', true]),
    );
    for (const t of rows) {
      expect(t.e2eMs).toBeGreaterThan(0);
      expect(t.procMs).not.toBeNull();
      expect(t.sentMs).toBeGreaterThanOrEqual(started - 1000);
    }
  });

  it('status: mu1 on ap1, its container running on edge1, no agent; the lab up', async () => {
    const r = await cli<StatusResult>(['status']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result?.lab?.up).toBe(true);
    expect(r.json?.result?.state).toBe(stateFile);
    const mu1 = r.json?.result?.users.find((u) => u.user === 'mu1');
    expect(mu1).toMatchObject({
      service: 'simple',
      host: 'mu',
      basestation: 'ap1',
      server: 'edge1',
      container: { name: containerName(inv, 'mu1'), state: 'running' },
      agent: { running: false },
      errors: [],
    });
    // The container's state is read from the server, not the database: a paused one says so.
    const container = dockerFor(pool, getHost(inv, 'edge1')).getContainer(containerName(inv, 'mu1'));
    await container.pause();
    try {
      const paused = await cli<StatusResult>(['status', '--user', 'mu1']);
      expect(paused.json?.result?.users.map((u) => u.container?.state)).toEqual(['paused']);
    } finally {
      await container.unpause();
    }
  });

  it("logs: the service's output from edgectl's container; --follow ends on Ctrl+C with exit 0", async () => {
    const r = await cli<{ host: string; output: { stream: string; text: string }[] }>(['logs', 'mu1']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result?.host).toBe('edge1');
    // The bundled server says on stderr that it listens, one JSON line.
    const stderr = r.json?.result?.output
      .filter((o) => o.stream === 'stderr')
      .map((o) => o.text)
      .join('');
    expect(stderr).toMatch(/"event":"listening"/);

    const follow = execa(
      process.execPath,
      [
        `${repoRoot}bin/run.js`,
        'logs',
        'mu1',
        '--follow',
        '--tail',
        '5',
        '-f',
        hostsFile,
        '--state',
        stateFile,
      ],
      { reject: false, env: { NO_COLOR: '1' }, timeout: 60_000 },
    );
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      follow.stderr?.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        if (seen.includes('"event":"listening"')) resolve();
      });
      follow.once('exit', () => reject(new Error(`logs --follow ended before any output: ${seen}`)));
    });
    follow.kill('SIGINT');
    const end = await follow;
    // Ended by the Ctrl+C itself, not by execa's time limit killing it.
    expect(end.timedOut).toBe(false);
    expect(end.exitCode, String(end.stderr)).toBe(0);
    // Ctrl+C is how --follow is meant to end: no "stopping; what is under way…" notice.
    expect(String(end.stderr)).not.toContain('stopping');
  });

  it('two users on two servers offload at the same time without mixing counters (one with its own address and port)', async () => {
    expect((await edgectl(['provision', '-f', twoUsersFile, '--json'])).exitCode).toBe(0);
    const d2 = await cli<DeployResult>(
      ['deploy', '--user', 'mu2', '--service', 'simple', '--host', 'edge2'],
      twoUsersFile,
    );
    expect(d2.exitCode, d2.stderr).toBe(0);
    expect(d2.json?.result?.endpoint).toEqual({ address: '198.18.1.12', port: 21077 });
    const [a, b] = await Promise.all([
      cli<OffloadResult>(['offload', '--user', 'mu1', '--count', '20'], twoUsersFile),
      cli<OffloadResult>(['offload', '--user', 'mu2', '--count', '20'], twoUsersFile),
    ]);
    expect(a?.json?.result?.tasks.map((t) => t.counter)).toEqual(Array.from({ length: 20 }, (_, i) => 9 + i));
    expect(b?.json?.result?.tasks.map((t) => t.counter)).toEqual(Array.from({ length: 20 }, (_, i) => 1 + i));
    expect(b?.json?.result).toMatchObject({ host: 'edge2', bs: 'ap3' });
    // mu2 sent the sample frames, task i frame i mod 6: the sizes the same scaling gives here.
    const frames = await loadFrames({ frames: 'samples', frameWidth: 320, frameQuality: 80 });
    const s = openState(stateFile);
    const rows = s.tasks.forUser('mu2');
    s.close();
    expect(rows.map((t) => t.bytes)).toEqual(
      Array.from({ length: 20 }, (_, i) => frames[i % frames.length]?.jpeg.length),
    );
    expect(rows.every((t) => t.ok)).toBe(true);
  });
});

describe('a recorded placement whose container died', () => {
  it('is reported as such when the user is deployed elsewhere, and undeploy clears it', async () => {
    const docker = dockerFor(pool, getHost(inv, 'edge1'));
    await docker.getContainer(containerName(inv, 'mu1')).stop({ t: 0 });
    const r = await deployMu1('edge2');
    expect(r.exitCode).toBe(2);
    expect(r.json?.error?.message).toMatch(
      /mu1's service simple is recorded on edge1, but its container is not running there \(exited\)/,
    );
    expect(r.json?.error?.hint).toMatch(/edgectl undeploy --user mu1/);
    expect((await cli(['undeploy', '--user', 'mu1'])).exitCode).toBe(0);
    const again = await deployMu1('edge2');
    expect(again.exitCode, again.stderr).toBe(0);
    expect(again.json?.result?.host).toBe('edge2');
  });

  it('undeploy refuses while the server is unreachable (the record stays), and --forget drops the record', async () => {
    // mu1 runs on edge2 now (the test before).
    const { planLab } = await import('../../src/lib/lab/plan.js');
    const edge2 = planLab(inv).hosts.find((h) => h.name === 'edge2')!;
    process.kill(Number(readFileSync(edge2.docker!.pidFile, 'utf8')), 'SIGKILL');
    try {
      const r = await cli(['undeploy', '--user', 'mu1']);
      expect(r.exitCode).toBe(5);
      expect(r.json?.error?.code).toBe('DOCKER_UNAVAILABLE');
      expect(r.json?.error?.hint).toMatch(/--forget/);
      const s = openState(stateFile);
      expect(s.placements.get('mu1')?.host).toBe('edge2');
      s.close();
      const f = await cli<{ removed: boolean; left?: string }>(['undeploy', '--user', 'mu1', '--forget']);
      expect(f.exitCode, f.stderr).toBe(0);
      expect(f.json?.result?.removed).toBe(true);
      expect(f.json?.result?.left).toMatch(/may still be on edge2/);
      expect(f.json?.warnings.join()).toMatch(/forgot mu1's placement/);
      const after = openState(stateFile);
      expect(after.placements.get('mu1')).toBeUndefined();
      after.close();
    } finally {
      const up = await edgectl(['lab', 'up', '-f', hostsFile, '--json']);
      expect(up.exitCode, up.stderr).toBe(0);
      // What --forget left behind on edge2, removed by hand.
      await dockerFor(pool, getHost(inv, 'edge2'))
        .getContainer(containerName(inv, 'mu1'))
        .remove({ force: true })
        .catch(() => {});
    }
  });
});
