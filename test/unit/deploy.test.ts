import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  containerName,
  containerSpec,
  httpGetRequest,
  httpStatusOf,
  LABEL,
} from '../../src/lib/docker/deploy.js';
import { getHost, getService, type Inventory, loadInventory } from '../../src/lib/inventory/index.js';
import { remoteEdgectlArgv } from '../../src/lib/mu/offload.js';

let inv: Inventory;
beforeAll(async () => {
  inv = await loadInventory(path.join(fileURLToPath(new URL('../..', import.meta.url)), 'hosts.yml'));
});

describe('the container of a user’s service', () => {
  it('follows the service definition: image, command, env, limits, port on the data address', () => {
    const spec = containerSpec(
      inv,
      'mu1',
      getService(inv, 'compute'),
      getHost(inv, 'edge1'),
      'edgectl/apps:abc',
      '0123456789abcdef',
    );
    expect(spec).toEqual({
      name: 'edgectl.paper-fig3.mu1',
      Image: 'edgectl/apps:abc',
      Cmd: ['/usr/local/bin/node', '/apps/compute/server.mjs'],
      Env: ['STATE_MB=64', 'PORT=9001'],
      ExposedPorts: { '9001/tcp': {} },
      Labels: {
        [LABEL.testbed]: 'paper-fig3',
        [LABEL.user]: 'mu1',
        [LABEL.database]: '0123456789abcdef',
        [LABEL.service]: 'compute',
      },
      HostConfig: {
        PortBindings: { '9001/tcp': [{ HostIp: '198.18.1.11', HostPort: '20000' }] },
        NanoCpus: 1e9,
        Memory: 512 * 1024 * 1024,
      },
    });
    expect(containerName(inv, 'mu2')).toBe('edgectl.paper-fig3.mu2');
  });
});

describe('asking an HTTP service from its server', () => {
  it('sends a plain GET and reads the status code of the answer', () => {
    expect(httpGetRequest('/health?x=1', '198.19.1.2')).toBe(
      'GET /health?x=1 HTTP/1.0\r\nHost: 198.19.1.2\r\nConnection: close\r\n\r\n',
    );
    expect(httpStatusOf('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n')).toBe(200);
    expect(httpStatusOf('HTTP/1.0 503 Service Unavailable\n')).toBe(503);
    expect(httpStatusOf('HTTP/2 204\r\n')).toBe(204);
    expect(httpStatusOf('SSH-2.0-OpenSSH\r\n')).toBeUndefined();
    expect(httpStatusOf('HTTP/1.1 20')).toBeUndefined();
  });
});

describe('edgectl on another host', () => {
  it('uses hosts.yml edgectlPath, else $EDGECTL_BIN, else edgectl on PATH', () => {
    const mu = getHost(inv, 'mu');
    expect(remoteEdgectlArgv(mu, ['mu', 'offload'])).toEqual([
      'sh',
      '-c',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, for the remote shell
      'exec "${EDGECTL_BIN:-edgectl}" "$@"',
      'edgectl',
      'mu',
      'offload',
    ]);
    expect(remoteEdgectlArgv({ ...mu, edgectlPath: '/opt/edgectl/bin/edgectl' }, ['mu', 'offload'])).toEqual([
      '/opt/edgectl/bin/edgectl',
      'mu',
      'offload',
    ]);
  });
});
