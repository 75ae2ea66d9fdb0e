/**
 * A bundled service in the lab: a `compute` container on edge1 answers tasks sent from the cloud host
 * over the data network, and keeps its counter (and the file it writes) across a docker checkpoint and
 * restore done on edge1 itself.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerFor } from '../../src/lib/docker/client.js';
import { ensureAppImage } from '../../src/lib/docker/images.js';
import { appCommand } from '../../src/lib/image/index.js';
import { getHost, type Inventory } from '../../src/lib/inventory/index.js';
import { runChecked, SshPool } from '../../src/lib/remote/index.js';
import { repoRoot } from '../helpers/cli.js';
import { labInventory } from '../helpers/lab.js';

const NAME = 'edgectl-test-compute';
const pool = new SshPool();
let inv: Inventory;

interface ClientLine {
  ok: boolean;
  counter?: number;
  fileLines?: number;
  service?: string;
  error?: string;
}

/** The offloading client, run on the cloud host over SSH, towards edge1's data address. */
async function offloadFromCloud(count: number): Promise<ClientLine[]> {
  const edge1 = getHost(inv, 'edge1');
  const r = await pool
    .executor(getHost(inv, 'cloud'))
    .run(
      [
        process.execPath,
        `${repoRoot}apps/client.mjs`,
        '--address',
        edge1.dataAddress,
        '--port',
        '9001',
        '--count',
        String(count),
        '--size',
        '20000',
        '--timeout-ms',
        '20000',
        '--attempt-timeout-ms',
        '2000',
      ],
      { timeoutMs: 60_000 },
    );
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ClientLine);
}

beforeAll(async () => {
  ({ inv } = await labInventory());
  const edge1 = getHost(inv, 'edge1');
  const docker = dockerFor(pool, edge1);
  await docker
    .getContainer(NAME)
    .remove({ force: true })
    .catch(() => {});
  const image = await ensureAppImage(inv, pool, { hosts: [edge1] });
  const container = await docker.createContainer({
    name: NAME,
    Image: image.name,
    Cmd: appCommand('compute'),
    Env: ['STATE_MB=16', 'PORT=9001'],
    ExposedPorts: { '9001/tcp': {} },
    HostConfig: { PortBindings: { '9001/tcp': [{ HostIp: edge1.dataAddress, HostPort: '9001' }] } },
  });
  await container.start();
});

afterAll(async () => {
  await dockerFor(pool, getHost(inv, 'edge1'))
    .getContainer(NAME)
    .remove({ force: true })
    .catch(() => {});
  await pool.closeAll();
});

describe('a compute container in the lab', () => {
  it('answers tasks from the cloud host over the data network', async () => {
    const answers = await offloadFromCloud(3);
    expect(answers.map((a) => [a.ok, a.counter, a.service])).toEqual([
      [true, 1, 'compute'],
      [true, 2, 'compute'],
      [true, 3, 'compute'],
    ]);
  });

  it('keeps its counter and its files across a checkpoint and restore on edge1', async () => {
    const edge1 = pool.executor(getHost(inv, 'edge1'));
    await runChecked(edge1, ['docker', 'checkpoint', 'create', NAME, 'cp1'], { timeoutMs: 60_000 });
    const state = await runChecked(edge1, ['docker', 'inspect', '--format', '{{.State.Running}}', NAME]);
    expect(state.stdout.trim()).toBe('false');
    await runChecked(edge1, ['docker', 'start', '--checkpoint', 'cp1', NAME], { timeoutMs: 60_000 });
    const answers = await offloadFromCloud(2);
    expect(answers.map((a) => [a.ok, a.counter, a.fileLines])).toEqual([
      [true, 4, 4],
      [true, 5, 5],
    ]);
  });
});
