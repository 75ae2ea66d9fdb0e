/**
 * A researcher's own service on the provisioned lab: a plain HTTP server (test/fixtures/http-counter,
 * not on edgectl's protocol) in an image of its own, put on one server by `image load`. Deploying it where
 * the image is missing fails before anything changes and names `image load`; it migrates edge1 -> edge2
 * (delta) and edge2 -> cloud (full), the image copied to each destination before the final checkpoint,
 * the downtime measured by its `http` probe and its state check the same before and after.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerFor } from '../../src/lib/docker/client.js';
import { containerName } from '../../src/lib/docker/owner.js';
import { getHost, getUser, type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import type { MigrationResult } from '../../src/lib/migration/pipeline.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { openState } from '../../src/lib/state/index.js';
import { edgectl } from '../helpers/cli.js';
import { buildHttpCounterImage } from '../helpers/http-image.js';
import { writeVariantInventory } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-own-'));
const stateFile = join(dir, 'state.db');
const file = join(dir, 'hosts.yml');
const pool = new SshPool();
let inv: Inventory;
let image: { path: string; ref: string; id: string };

/** The state check: both counters, read through the service's own /state (memory and file). */
const STATE_CHECK = [
  '/usr/local/bin/node',
  '-e',
  "fetch('http://127.0.0.1:8080/state').then((r) => r.text()).then((t) => process.stdout.write(t))",
];

function cli<T>(args: string[]) {
  return edgectl<T>([...args, '-f', file, '--state', stateFile, '--json'], { timeoutMs: 300_000 });
}

/** GET /count from mu1's own address on the mu host, over its radio path, as a plain HTTP client. */
async function count(): Promise<{ memory: number; file: number }> {
  const mu1 = getUser(inv, 'mu1');
  const host = getHost(inv, (await where()) ?? 'edge1');
  const endpoint = { address: host.dataAddress, port: mu1.port };
  const script = `require('http').get({ host: ${JSON.stringify(endpoint.address)}, port: ${endpoint.port}, path: '/count', localAddress: ${JSON.stringify(mu1.address)} }, (r) => { let b = ''; r.on('data', (d) => (b += d)); r.on('end', () => console.log(b)); }).on('error', (e) => { console.error(e.message); process.exit(1); });`;
  const r = await pool
    .executor(getHost(inv, 'mu'))
    .run([process.execPath, '-e', script], { timeoutMs: 30_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { memory: number; file: number };
}

async function where(): Promise<string | undefined> {
  const s = openState(stateFile);
  try {
    return s.placements.get('mu1')?.host;
  } finally {
    s.close();
  }
}

async function removeImageFrom(docker: Docker): Promise<void> {
  const name = containerName(inv, 'mu1');
  await docker
    .getContainer(name)
    .remove({ force: true })
    .catch(() => {});
  await docker
    .getImage(image.id)
    .remove({ force: true })
    .catch(() => {});
}

beforeAll(async () => {
  image = await buildHttpCounterImage();
  writeVariantInventory(file, (doc) => {
    doc.addIn(['services'], {
      name: 'web',
      image: image.ref,
      port: 8080,
      probe: 'http:/health',
      stateCheck: STATE_CHECK,
    });
    doc.setIn(['users', 0, 'service'], 'web');
  });
  inv = await loadInventory(file);
  const r = await cli(['provision']);
  expect(r.exitCode, r.stderr).toBe(0);
  // No server has the image, whatever an earlier test file left.
  await Promise.all(
    ['edge1', 'edge2', 'edge3', 'cloud'].map((h) => removeImageFrom(dockerFor(pool, getHost(inv, h)))),
  );
}, 600_000);

afterAll(async () => {
  await cli(['undeploy', '--user', 'mu1']).catch(() => {});
  await pool.closeAll();
  rmSync(dir, { recursive: true, force: true });
});

describe('a service of your own (an HTTP server in an image of its own)', () => {
  it('is not deployed where its image is missing: nothing changes, and the error names image load', async () => {
    const edge1 = dockerFor(pool, getHost(inv, 'edge1'));
    const r = await cli(['deploy', '--user', 'mu1', '--service', 'web', '--host', 'edge1']);
    expect(r.exitCode).toBe(6);
    expect(r.json?.error?.code).toBe('IMAGE_MISSING');
    expect(r.json?.error?.hint).toContain('edgectl image load');
    const containers = await edge1.listContainers({ all: true });
    expect(containers.some((c) => c.Names.includes(`/${containerName(inv, 'mu1')}`))).toBe(false);
    expect(await where()).toBeUndefined();
  });

  it('deploys on edge1 once image load put it there, and answers its own clients', async () => {
    const load = await cli(['image', 'load', image.path, '--host', 'edge1']);
    expect(load.exitCode, load.stderr).toBe(0);
    const r = await cli(['deploy', '--user', 'mu1', '--service', 'web', '--host', 'edge1']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await count()).toEqual({ memory: 1, file: 1 });
    expect(await count()).toEqual({ memory: 2, file: 2 });
  });

  it.each([
    ['edge2', 'delta'],
    ['cloud', 'full'],
  ] as const)(
    'migrates to %s (%s): image loaded before the downtime, http probe, state kept',
    async (to, strategy) => {
      const before = await count();
      const r = await cli<MigrationResult>(['migrate', '--user', 'mu1', '--to', to, '--strategy', strategy]);
      expect(r.exitCode, r.stderr).toBe(0);
      const m = r.json!.result!;
      // The destination lacked the image: it was loaded from the source during prepare, that is before
      // the final checkpoint began.
      expect(m.image).toMatchObject({ name: image.ref, id: image.id, loaded: true });
      expect(m.image!.bytes).toBeGreaterThan(1_000_000);
      const prepare = m.phases.find((p) => p.name === 'prepare')!;
      const checkpoint = m.phases.find((p) => p.name === 'checkpoint')!;
      expect(prepare.parts?.image).toBeGreaterThan(0);
      expect(prepare.startMs + prepare.durationMs).toBeLessThanOrEqual(checkpoint.startMs);
      // The downtime, as the user saw it through the service's http probe.
      expect(m.probe?.probe).toBe('http:/health');
      expect(m.probe?.answeredBy).toBe('to');
      expect(m.downtimeMs).toBeGreaterThan(0);
      // The state check ran before and after and matched (else the migration would have failed).
      expect(JSON.parse(m.stateCheck!.output)).toEqual(before);
      // Memory and file state went along: the next request continues both counters.
      expect(await count()).toEqual({ memory: before.memory + 1, file: before.file + 1 });
      const docker = dockerFor(pool, getHost(inv, to));
      const running = await docker.listContainers();
      expect(running.find((c) => c.Names.includes(`/${containerName(inv, 'mu1')}`))?.Image).toBe(image.ref);
    },
  );
});
