import { afterAll, describe, expect, it } from 'vitest';
import { dockerFor } from '../../src/lib/docker/client.js';
import { getHost, serverHosts } from '../../src/lib/inventory/index.js';
import { SshPool } from '../../src/lib/remote/index.js';
import { labInventory } from '../helpers/lab.js';

const pool = new SshPool();
afterAll(() => pool.closeAll());

describe('dockerode over the pooled SSH connection', () => {
  it('reaches the own dockerd of every lab server', async () => {
    const { inv } = await labInventory();
    const infos = await Promise.all(serverHosts(inv).map((h) => dockerFor(pool, h).info()));
    // Four different daemons: each server's own data root and bridge.
    expect(new Set(infos.map((i) => i.DockerRootDir)).size).toBe(4);
    for (const info of infos) {
      expect(info.ExperimentalBuild).toBe(true);
      expect(info.DockerRootDir).toMatch(/^\/var\/lib\/edgectl\/paper-fig3\/(cloud|edge\d)\/docker$/);
    }
  });

  it('serves many concurrent requests over few channels of one connection', async () => {
    const { inv } = await labInventory();
    const docker = dockerFor(pool, getHost(inv, 'edge1'));
    const started = performance.now();
    const versions = await Promise.all(Array.from({ length: 20 }, () => docker.version()));
    expect(versions.every((v) => v.ApiVersion === versions[0]?.ApiVersion)).toBe(true);
    // 20 requests through 4 kept-alive dial-stdio channels: well under a fresh SSH handshake each.
    expect(performance.now() - started).toBeLessThan(20 * 270);
  });
});
