import { afterAll, describe, expect, it, vi } from 'vitest';
import { dialStdioCommand, dockerFor, SOCKETS_PER_HOST } from '../../src/lib/docker/client.js';
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
    const edge1 = getHost(inv, 'edge1');
    const { client } = await pool.connect(edge1);
    const exec = vi.spyOn(client, 'exec');
    try {
      const docker = dockerFor(pool, edge1);
      const versions = await Promise.all(Array.from({ length: 20 }, () => docker.version()));
      expect(versions.every((v) => v.ApiVersion === versions[0]?.ApiVersion)).toBe(true);
      // 20 requests through at most SOCKETS_PER_HOST kept-alive dial-stdio channels, all on the one pooled
      // SSH connection (no new handshake, no new session per request).
      expect((await pool.connect(edge1)).client).toBe(client);
      const channels = exec.mock.calls.map((c) => c[0]);
      expect(channels.length).toBeGreaterThan(0);
      expect(channels.length).toBeLessThanOrEqual(SOCKETS_PER_HOST);
      expect(new Set(channels)).toEqual(new Set([dialStdioCommand(edge1)]));
    } finally {
      exec.mockRestore();
    }
  });
});
