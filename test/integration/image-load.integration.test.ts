/**
 * edgectl image load on the lab: the third-party-style test image (edgectl-test/http-counter:1, a docker
 * save archive built from local files) goes to the four servers; a second run sends nothing; an image of
 * "this machine's Docker" (DOCKER_HOST pointed at edge1's dockerd socket, which is a file on this machine)
 * goes too; copyImage streams between two servers. The image is left on every server for later tests.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerFor } from '../../src/lib/docker/client.js';
import { copyImage, type ImageLoadResult, savedImagePath } from '../../src/lib/docker/images.js';
import { getHost, type Inventory, serverHosts } from '../../src/lib/inventory/index.js';
import type { LabPlan } from '../../src/lib/lab/plan.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { edgectl, repoRoot } from '../helpers/cli.js';
import { buildHttpCounterImage, type TestImage } from '../helpers/http-image.js';
import { hostsFile, labInventory } from '../helpers/lab.js';

const pool = new SshPool();
let inv: Inventory;
let plan: LabPlan;
let image: TestImage;
/** Where the CLI saves images of this machine's Docker: .edgectl/images beside hosts.yml. */
const cacheDir = join(repoRoot, '.edgectl', 'images');
let savedBefore = false;
const SERVERS = ['cloud', 'edge1', 'edge2', 'edge3'];
/** A second tag, to leave the image ID on a server without the test tag. */
const SPARE_TAG = 'edgectl-test/http-counter:spare';

function load(args: string[], env?: Record<string, string>) {
  return edgectl<ImageLoadResult>(['image', 'load', ...args, '-f', hostsFile, '--json'], {
    ...(env ? { env } : {}),
    timeoutMs: 300_000,
  });
}

function docker(host: string): Docker {
  return dockerFor(pool, getHost(inv, host));
}

function ignore404(err: unknown): void {
  if ((err as { statusCode?: number }).statusCode !== 404) throw err;
}

async function removeImage(host: string): Promise<void> {
  await docker(host).getImage(image.id).remove({ force: true }).catch(ignore404);
  expect(await idOf(host, image.id)).toBeUndefined();
}

/** The image ID `ref` names on a server (undefined: none). */
async function idOf(host: string, ref: string): Promise<string | undefined> {
  try {
    return (await docker(host).getImage(ref).inspect()).Id;
  } catch (err) {
    ignore404(err);
    return undefined;
  }
}

/** edge1's dockerd, as "this machine's Docker": its unix socket is a file here. */
function edge1DockerHost(): string {
  const socket = plan.hosts.find((h) => h.name === 'edge1')?.docker?.socket;
  if (!socket) throw new Error('the lab plan has no dockerd for edge1');
  return `unix://${socket}`;
}

beforeAll(async () => {
  ({ inv, plan } = await labInventory());
  expect(serverHosts(inv).map((h) => h.name)).toEqual(SERVERS);
  image = await buildHttpCounterImage();
  savedBefore = existsSync(savedImagePath(cacheDir, image.id));
  // Whatever an earlier test file left: no server has it.
  await Promise.all(SERVERS.map(removeImage));
}, 300_000);

afterAll(async () => {
  for (const host of SERVERS)
    await docker(host)
      .getImage(SPARE_TAG)
      .remove()
      .catch(() => {});
  if (!savedBefore) {
    const saved = savedImagePath(cacheDir, image.id);
    rmSync(saved, { force: true });
    rmSync(`${saved}.json`, { force: true });
  }
  await pool.closeAll();
});

describe('image load FILE', () => {
  it('puts the archive on all four servers, with progress on stderr', async () => {
    const r = await load([image.path]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result).toMatchObject({
      image: image.id,
      tags: [image.ref],
      source: 'file',
      archiveBytes: statSync(image.path).size,
    });
    const hosts = r.json?.result?.hosts ?? [];
    expect(hosts.map((h) => h.host).sort()).toEqual(SERVERS);
    for (const h of hosts) {
      expect(h).toMatchObject({ loaded: true, bytes: statSync(image.path).size });
      expect(h.ms).toBeGreaterThan(0);
    }
    for (const host of SERVERS) expect(await idOf(host, image.ref)).toBe(image.id);
    expect(r.stderr).toMatch(/✓ edge1: loaded/);
  });

  it('a second run sends nothing', async () => {
    const r = await load([image.path]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result?.hosts.map((h) => [h.host, h.loaded, h.bytes]).sort()).toEqual(
      SERVERS.map((host) => [host, false, 0]),
    );
  });

  it('--host: only that server; its missing tag is set without sending the image', async () => {
    const edge3 = docker('edge3');
    await edge3.getImage(image.id).tag({ repo: 'edgectl-test/http-counter', tag: 'spare' });
    await edge3.getImage(image.ref).remove(); // untags only: the spare tag keeps the image
    expect(await idOf('edge3', image.ref)).toBeUndefined();
    expect(await idOf('edge3', image.id)).toBe(image.id);

    const r = await load([image.path, '--host', 'edge3']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.json?.result?.hosts).toEqual([
      { host: 'edge3', loaded: false, bytes: 0, ms: expect.any(Number) },
    ]);
    expect(await idOf('edge3', image.ref)).toBe(image.id);
  });
});

describe("image load IMAGE (this machine's Docker)", () => {
  it('saves the image once and sends it where it is missing', async () => {
    await removeImage('edge2');
    const r = await load([image.ref], { DOCKER_HOST: edge1DockerHost() });
    expect(r.exitCode, r.stderr).toBe(0);
    const saved = savedImagePath(cacheDir, image.id);
    expect(r.json?.result).toMatchObject({
      image: image.id,
      tags: [image.ref],
      source: 'docker',
      archiveBytes: statSync(saved).size,
    });
    const byHost = Object.fromEntries((r.json?.result?.hosts ?? []).map((h) => [h.host, h]));
    expect(byHost['edge2']).toMatchObject({ loaded: true, bytes: statSync(saved).size });
    for (const host of ['cloud', 'edge1', 'edge3'])
      expect(byHost[host]).toMatchObject({ loaded: false, bytes: 0 });
    expect(await idOf('edge2', image.ref)).toBe(image.id);
  });
});

describe('image load errors', () => {
  it('a file that does not exist: a usage error', async () => {
    const r = await load(['./no-such-image.tar']);
    expect(r.exitCode).toBe(2);
    expect(r.json?.error).toMatchObject({ code: 'USAGE', message: 'no such file: ./no-such-image.tar' });
  });

  it("an image that this machine's Docker does not have: an error naming it", async () => {
    const r = await load(['edgectl-test/no-such-image:0'], { DOCKER_HOST: edge1DockerHost() });
    expect(r.exitCode).toBe(2);
    expect(r.json?.error?.code).toBe('IMAGE_NOT_FOUND');
    expect(r.json?.error?.message).toContain('edgectl-test/no-such-image:0');
  });

  it("this machine's Docker unreachable: the hint names docker save -o", async () => {
    const r = await load(['edgectl-test/no-such-image:0'], {
      DOCKER_HOST: 'unix:///nonexistent/docker.sock',
    });
    expect(r.exitCode).toBe(7);
    expect(r.json?.error?.code).toBe('LOCAL_DOCKER_UNAVAILABLE');
    expect(r.json?.error?.hint).toContain('docker save -o FILE IMAGE');
  });

  it('a host that is no server: a usage error', async () => {
    const r = await load([image.path, '--host', 'ap1']);
    expect(r.exitCode).toBe(2);
    expect(r.json?.error?.message).toMatch(/ap1 is not a server/);
  });
});

describe('copyImage', () => {
  it("streams an image from one server's dockerd into another's, once", async () => {
    await removeImage('edge3');
    const first = await copyImage(docker('edge1'), docker('edge3'), image.ref, {
      srcName: 'edge1',
      dstName: 'edge3',
    });
    expect(first).toMatchObject({ loaded: true, id: image.id });
    expect(first.bytes).toBeGreaterThan(1_000_000);
    expect(await idOf('edge3', image.ref)).toBe(image.id);
    const again = await copyImage(docker('edge1'), docker('edge3'), image.ref);
    expect(again).toMatchObject({ loaded: false, bytes: 0, id: image.id });
  });
});
