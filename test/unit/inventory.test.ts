import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EdgectlError, ExitCode } from '../../src/lib/errors.js';
import {
  basestationsOf,
  colocatedServer,
  DEFAULT_PATH_LOSS,
  DEFAULT_SSH,
  DEFAULT_TASK,
  getBasestation,
  getHost,
  getService,
  getUser,
  hostsByRole,
  hostsFileFrom,
  type Inventory,
  InventoryError,
  InventoryLookupError,
  InventoryNotFoundError,
  linkBetween,
  linksOf,
  loadInventory,
  neighbours,
  offloadText,
  parseInventory,
  probeText,
  route,
  serverHosts,
  usersOf,
  usersOn,
} from '../../src/lib/inventory/index.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'test/fixtures/inventory');

function rssiDbm(pathLoss: { exponent: number; referenceLossDb: number }, d: number): number {
  return -(10 * pathLoss.exponent * Math.log10(Math.max(d, 1)) + pathLoss.referenceLossDb);
}

function invalid(text: string, file = 'hosts.yml'): InventoryError {
  try {
    parseInventory(text, file);
  } catch (err) {
    if (err instanceof InventoryError) return err;
    throw err;
  }
  throw new Error('parsed without error');
}

describe('the repository hosts.yml (the paper testbed, Fig. 3)', () => {
  let inv: Inventory;
  beforeAll(async () => {
    inv = await loadInventory('hosts.yml', { cwd: ROOT });
  });

  it('loads with the expected hosts, roles and capacities', () => {
    expect(inv.testbed).toBe('paper-fig3');
    expect(inv.file).toBe('hosts.yml');
    expect(inv.path).toBe(path.join(ROOT, 'hosts.yml'));
    expect(inv.dir).toBe(ROOT);
    expect(inv.hosts.map((h) => [h.name, h.role])).toEqual([
      ['cloud', 'cloud'],
      ['edge1', 'edge'],
      ['edge2', 'edge'],
      ['edge3', 'edge'],
      ['ap1', 'ap'],
      ['ap2', 'ap'],
      ['ap3', 'ap'],
      ['mu', 'mu'],
    ]);
    expect(getHost(inv, 'cloud').capacity).toEqual({ cpus: 6, memMB: 131072 });
    for (const name of ['edge1', 'edge2', 'edge3']) {
      expect(getHost(inv, name).capacity).toEqual({ cpus: 4, memMB: 16384 });
    }
    expect(serverHosts(inv).map((h) => h.name)).toEqual(['cloud', 'edge1', 'edge2', 'edge3']);
    expect(inv.hosts.filter((h) => h.isServer).map((h) => h.name)).toEqual([
      'cloud',
      'edge1',
      'edge2',
      'edge3',
    ]);
  });

  it('follows the address plan: management 198.18.0.0/24, data 198.18.1.0/24, same last octets', () => {
    const octets: Record<string, number> = {
      cloud: 10,
      edge1: 11,
      edge2: 12,
      edge3: 13,
      ap1: 21,
      ap2: 22,
      ap3: 23,
      mu: 31,
    };
    for (const host of inv.hosts) {
      expect(host.address).toBe(`198.18.0.${octets[host.name]}`);
      // The mu host has no data address of its own: it reaches the servers only through the APs.
      const net = host.role === 'mu' ? 0 : 1;
      expect(host.dataAddress).toBe(`198.18.${net}.${octets[host.name]}`);
    }
    // The controller's own address stays free.
    expect(inv.hosts.some((h) => h.address === '198.18.0.1' || h.dataAddress === '198.18.0.1')).toBe(false);
    expect(
      inv.basestations.map((b) => [b.name, b.radioSubnet, b.radio.apAddress, b.radio.userAddress]),
    ).toEqual([
      ['ap1', '198.18.11.0/24', '198.18.11.1', '198.18.11.2'],
      ['ap2', '198.18.12.0/24', '198.18.12.1', '198.18.12.2'],
      ['ap3', '198.18.13.0/24', '198.18.13.1', '198.18.13.2'],
    ]);
  });

  it('resolves the SSH defaults against the file directory', () => {
    for (const host of inv.hosts) {
      expect(host.ssh).toEqual({
        user: 'root',
        port: 22,
        identityFile: path.join(ROOT, '.edgectl/lab/id_ed25519'),
        knownHosts: path.join(ROOT, '.edgectl/lab/known_hosts'),
        acceptNewHostKeys: false,
        sudo: false,
        connectTimeoutMs: 5000,
      });
    }
    expect(inv.raw.defaults?.ssh?.identityFile).toBe('.edgectl/lab/id_ed25519');
  });

  it('pairs each AP with its edge server and the paper links', () => {
    expect(inv.basestations.map((b) => [b.name, b.host, b.server])).toEqual([
      ['ap1', 'ap1', 'edge1'],
      ['ap2', 'ap2', 'edge2'],
      ['ap3', 'ap3', 'edge3'],
    ]);
    const shape = (a: string, b: string) => {
      const link = linkBetween(inv, a, b);
      return link && [link.bandwidthBps, link.latencyMs];
    };
    expect(shape('edge1', 'edge2')).toEqual([100e6, 50]);
    expect(shape('edge3', 'edge2')).toEqual([100e6, 50]);
    expect(linkBetween(inv, 'edge1', 'edge3')).toBeUndefined();
    for (const edge of ['edge1', 'edge2', 'edge3']) expect(shape('cloud', edge)).toEqual([75e6, 150]);
    for (const i of [1, 2, 3]) expect(shape(`ap${i}`, `edge${i}`)).toEqual([1e9, 1]);
    expect(inv.links).toHaveLength(8);
    expect(linksOf(inv, 'mu')).toEqual([]);
  });

  it('has the four services and the user mu1 on a round trip across the three APs at 1 m/s', () => {
    expect(inv.services.map((s) => [s.name, s.app, s.port])).toEqual([
      ['simple', 'simple', 9000],
      ['compute', 'compute', 9001],
      ['face', 'face', 9002],
      ['detect', 'detect', 9003],
    ]);
    expect(getService(inv, 'simple')).toMatchObject({ app: 'simple', port: 9000, env: {} });
    expect(getService(inv, 'compute')).toMatchObject({
      app: 'compute',
      port: 9001,
      env: { STATE_MB: '64' },
      limits: { cpus: 1, memMB: 512 },
    });
    const mu1 = getUser(inv, 'mu1');
    expect(mu1).toMatchObject({
      host: 'mu',
      service: 'compute',
      startBasestation: 'ap1',
      trajectory: { type: 'roundtrip', from: [0, 0], to: [120, 0], speed: 1 },
      task: { sizeBytes: 20000, ratePerSec: 2 },
    });
    expect(usersOn(inv, 'mu').map((u) => u.name)).toEqual(['mu1']);
    expect(usersOf(inv, 'compute').map((u) => u.name)).toEqual(['mu1']);
  });

  it('keeps the user covered: the strongest AP stays above minRssi all along the path', () => {
    const trajectory = getUser(inv, 'mu1').trajectory;
    if (trajectory.type !== 'roundtrip') throw new Error('the example walks a round trip');
    const { from, to } = trajectory;
    let worst = 0;
    for (let s = 0; s <= 1; s += 1 / 240) {
      const p = [from[0] + s * (to[0] - from[0]), from[1] + s * (to[1] - from[1])];
      const best = Math.max(
        ...inv.basestations.map((b) => {
          const d = Math.hypot((p[0] ?? 0) - b.position[0], (p[1] ?? 0) - b.position[1]);
          return rssiDbm(b.pathLoss, d) - b.pathLoss.minRssiDbm;
        }),
      );
      worst = Math.min(worst === 0 ? best : worst, best);
    }
    expect(worst).toBeGreaterThan(5); // at least 5 dB of margin at the worst point
    for (const b of inv.basestations) expect(b.pathLoss).toEqual(DEFAULT_PATH_LOSS);
  });

  it('records where each entity is defined', () => {
    const lines = readFileSync(path.join(ROOT, 'hosts.yml'), 'utf8').split('\n');
    const edge2 = getHost(inv, 'edge2');
    expect(lines[edge2.at.line - 1]?.slice(edge2.at.column - 1)).toMatch(/^name: edge2\b/);
    const link = inv.links[2];
    expect(link && lines[link.at.line - 1]?.slice(link.at.column - 1)).toMatch(
      /^\{ between: \[edge1, cloud\]/,
    );
  });

  it('shows a true example error in its header comment', () => {
    const text = readFileSync(path.join(ROOT, 'hosts.yml'), 'utf8');
    const example = /^# {3}(hosts\.yml:\d+:\d+: links\[2\]\.latency: .*)$/m.exec(text)?.[1];
    expect(example).toBeDefined();
    const broken = text.replace(
      '{ between: [edge1, cloud], bandwidth: 75mbit, latency: 150ms }',
      '{ between: [edge1, cloud], bandwidth: 75mbit, latency: fast }',
    );
    expect(invalid(broken, 'hosts.yml').message).toBe(example);
  });
});

describe('topology helpers', () => {
  let inv: Inventory;
  beforeAll(async () => {
    inv = await loadInventory(path.join(ROOT, 'hosts.yml'));
  });

  it('getHost throws a typed error listing the known names', () => {
    expect(getHost(inv, 'edge2').address).toBe('198.18.0.12');
    let caught: unknown;
    try {
      getHost(inv, 'edge9');
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InventoryLookupError);
    expect(caught).toBeInstanceOf(EdgectlError);
    const err = caught as InventoryLookupError;
    expect(err.code).toBe('UNKNOWN_HOST');
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.known).toEqual(['cloud', 'edge1', 'edge2', 'edge3', 'ap1', 'ap2', 'ap3', 'mu']);
    expect(err.message).toContain('unknown host "edge9"');
    expect(err.message).toContain('cloud, edge1, edge2, edge3, ap1, ap2, ap3, mu');
    expect(() => getBasestation(inv, 'ap4')).toThrow(/unknown basestation "ap4".*ap1, ap2, ap3/);
    expect(() => getUser(inv, 'mu2')).toThrow(/unknown user "mu2"/);
    expect(() => getService(inv, 'yolo')).toThrow(/unknown service "yolo".*simple, compute/);
  });

  it('finds links in either order, neighbours and hosts by role', () => {
    expect(linkBetween(inv, 'edge2', 'edge1')).toBe(linkBetween(inv, 'edge1', 'edge2'));
    expect(linkBetween(inv, 'ap1', 'ap2')).toBeUndefined();
    expect(neighbours(inv, 'edge2').map((h) => h.name)).toEqual(['cloud', 'edge1', 'edge3', 'ap2']);
    expect(neighbours(inv, 'cloud').map((h) => h.name)).toEqual(['edge1', 'edge2', 'edge3']);
    expect(neighbours(inv, 'mu')).toEqual([]);
    expect(hostsByRole(inv, 'ap').map((h) => h.name)).toEqual(['ap1', 'ap2', 'ap3']);
    expect(hostsByRole(inv, 'mu', 'cloud').map((h) => h.name)).toEqual(['cloud', 'mu']);
  });

  it('finds base stations by ap host or co-located server', () => {
    expect(basestationsOf(inv).map((b) => b.name)).toEqual(['ap1', 'ap2', 'ap3']);
    expect(basestationsOf(inv, 'edge2').map((b) => b.name)).toEqual(['ap2']);
    expect(basestationsOf(inv, 'ap3').map((b) => b.name)).toEqual(['ap3']);
    expect(basestationsOf(inv, 'cloud')).toEqual([]);
    expect(colocatedServer(inv, 'ap1')?.name).toBe('edge1');
  });

  it('routes over the lowest-latency path with its bottleneck bandwidth', () => {
    expect(route(inv, 'ap1', 'edge3')).toMatchObject({
      hosts: ['ap1', 'edge1', 'edge2', 'edge3'],
      latencyMs: 101,
      rttMs: 202,
      bandwidthBps: 100e6,
    });
    expect(route(inv, 'ap3', 'cloud')).toMatchObject({
      hosts: ['ap3', 'edge3', 'cloud'],
      latencyMs: 151,
      bandwidthBps: 75e6,
    });
    expect(route(inv, 'edge1', 'edge1')).toMatchObject({ hosts: ['edge1'], links: [], latencyMs: 0 });
    expect(route(inv, 'mu', 'edge1')).toBeUndefined();
    expect(() => route(inv, 'edge1', 'nowhere')).toThrow(InventoryLookupError);
  });
});

describe('defaults and resolution', () => {
  it('fills every default of a minimal file', () => {
    const inv = parseInventory(readFileSync(path.join(FIXTURES, 'minimal.yml'), 'utf8'), 'minimal.yml', {
      cwd: FIXTURES,
    });
    expect(inv.hosts).toHaveLength(1);
    const solo = inv.hosts[0];
    expect(solo).toMatchObject({
      name: 'solo',
      dataAddress: '10.0.0.5',
      isServer: true,
      at: { line: 4, column: 5 },
    });
    expect(solo?.ssh).toEqual({ ...DEFAULT_SSH });
    expect(solo?.ssh.identityFile).toBeUndefined();
    expect(solo?.position).toBeUndefined();
    expect(solo?.edgectlPath).toBeUndefined();
    expect([inv.basestations, inv.links, inv.users, inv.services]).toEqual([[], [], [], []]);
  });

  it('fills base station, user and service defaults', async () => {
    const inv = await loadInventory(path.join(FIXTURES, 'defaults.yml'));
    const cell = getBasestation(inv, 'cell1');
    expect(cell).toMatchObject({ standard: '802.11n', maxUsers: 10, pathLoss: DEFAULT_PATH_LOSS });
    expect(cell.server).toBeUndefined();
    expect(cell.radio).toEqual({
      cidr: '10.9.0.0/30',
      network: '10.9.0.0',
      prefix: 30,
      netmask: '255.255.255.252',
      broadcast: '10.9.0.3',
      apAddress: '10.9.0.1',
      userAddress: '10.9.0.2',
      apCidr: '10.9.0.1/30',
      userCidr: '10.9.0.2/30',
    });
    expect(getUser(inv, 'walker').task).toEqual(DEFAULT_TASK);
    expect(getUser(inv, 'walker').startBasestation).toBeUndefined();
    const mine = getService(inv, 'mine');
    expect(mine.image).toBe('registry.local:5000/lab/svc:1.0');
    expect(mine.app).toBeUndefined();
    expect(mine.env).toEqual({});
    expect(getHost(inv, 'ap1').isServer).toBe(false);
  });

  it('merges SSH settings (built-in < defaults < host) and resolves paths', async () => {
    const inv = await loadInventory(path.join(FIXTURES, 'sub/overrides.yml'));
    const dir = path.join(FIXTURES, 'sub');
    expect(inv.dir).toBe(dir);
    expect(getHost(inv, 'cloud').ssh).toEqual({
      user: 'root',
      port: 2222,
      identityFile: '/etc/edgectl/cloud_key',
      knownHosts: path.join(FIXTURES, 'known_hosts'),
      acceptNewHostKeys: false,
      sudo: false,
      connectTimeoutMs: 1500,
    });
    expect(getHost(inv, 'edge-a').ssh).toEqual({
      user: 'lab',
      port: 22,
      identityFile: path.join(dir, 'keys/id_ed25519'),
      knownHosts: path.join(homedir(), 'lab/known_hosts'),
      acceptNewHostKeys: true,
      sudo: true,
      connectTimeoutMs: 5000,
    });
    expect(getHost(inv, 'cloud').dataAddress).toBe('192.0.2.110');
    expect(getHost(inv, 'edge-a').position).toEqual([1.5, -2]);
    expect(getHost(inv, 'users').edgectlPath).toBe('/opt/edgectl/bin/edgectl');
    expect(inv.raw.hosts[1]?.ssh?.knownHosts).toBe('~/lab/known_hosts');
  });

  it('normalises units and keeps partial nested settings', async () => {
    const inv = await loadInventory(path.join(FIXTURES, 'sub/overrides.yml'));
    expect(linkBetween(inv, 'edge-a', 'cloud')).toMatchObject({
      bandwidth: '1.5gbit',
      bandwidthBps: 1.5e9,
      latency: '0.5s',
      latencyMs: 500,
    });
    expect(linkBetween(inv, 'ap-a', 'edge-a')).toMatchObject({
      bandwidth: '512kbit',
      bandwidthBps: 512e3,
      latencyMs: 0.15,
    });
    expect(getBasestation(inv, 'bs-a')).toMatchObject({
      maxUsers: 3,
      pathLoss: { exponent: 2.5, referenceLossDb: 30, minRssiDbm: -82 },
    });
    expect(getService(inv, 'app').env).toEqual({ STATE_MB: '64', MODE: 'fast', EMPTY: '' });
    expect(getUser(inv, 'u1').task).toEqual({
      sizeBytes: 10000,
      ratePerSec: 0.5,
      frameWidth: 640,
      frameQuality: 80,
    });
  });
});

describe('loading errors', () => {
  it('reports a missing file with the path and how to point at another one', async () => {
    const missing = 'no/such/hosts.yml';
    const err = await loadInventory(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryNotFoundError);
    const e = err as InventoryNotFoundError;
    expect(e.code).toBe('INVENTORY_NOT_FOUND');
    expect(e.exitCode).toBe(ExitCode.inventory);
    expect(e.message).toContain('hosts file not found: no/such/hosts.yml');
    expect(e.message).toContain(path.resolve(missing));
    expect(e.hint).toContain('--hosts/-f');
    expect(e.hint).toContain('EDGECTL_HOSTS');
  });

  it('reports a directory given as the hosts file', async () => {
    const err = await loadInventory(FIXTURES).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InventoryNotFoundError);
    expect((err as Error).message).toContain('is a directory');
  });

  it('reports every schema problem of a file at once, in file order', () => {
    const err = invalid(
      [
        'testbed: lab',
        'hosts:',
        '  - name: edge1',
        '    role: edge',
        '    address: 10.0.0.1',
        '    capacity: { cpus: 0, memMB: 1024 }',
        '  - { name: ap1, role: ap, address: 10.0.0 }',
        'links:',
        '  - { between: [edge1, ap1], bandwidth: 100, latency: 1ms }',
      ].join('\n'),
    );
    expect(err.code).toBe('INVENTORY_INVALID');
    expect(err.exitCode).toBe(ExitCode.inventory);
    expect(err.message.split('\n')).toEqual([
      'hosts.yml:6:23: hosts[0].capacity.cpus: expected a CPU count, a number > 0, got 0',
      'hosts.yml:7:37: hosts[1].address: expected an IPv4 address like "198.18.0.10", got "10.0.0"',
      'hosts.yml:9:41: links[0].bandwidth: expected a bandwidth > 0 with a unit kbit, mbit or gbit, like "100mbit", got 100',
    ]);
    expect(err.issues[0]).toEqual({
      file: 'hosts.yml',
      line: 6,
      column: 23,
      path: 'hosts[0].capacity.cpus',
      message: 'expected a CPU count, a number > 0, got 0',
    });
  });

  it('points a key without a value at the key, and names non-string values', () => {
    const err = invalid(
      'testbed: lab\nhosts:\n  - name: edge1\n    role: edge\n    address:\n    capacity: 4\n',
    );
    expect(err.message.split('\n')).toEqual([
      'hosts.yml:5:5: hosts[0].address: expected an IPv4 address like "198.18.0.10", got an empty value',
      'hosts.yml:6:15: hosts[0].capacity: expected a capacity { cpus, memMB }, got 4',
    ]);
  });

  it('does not echo control characters from the file', () => {
    const err = invalid('testbed: "lab\\u001b[31m"\nhosts: []\n');
    expect(err.message.includes(String.fromCharCode(27))).toBe(false);
    expect(err.message).toContain('got "lab\\u001b[31m"');
  });

  it('accepts Docker image references and refuses anything else', () => {
    const base =
      'testbed: t\nhosts: [{ name: h, role: mu, address: 10.0.0.1 }]\nservices:\n  - { name: s, port: 1, image: ';
    for (const ok of [
      'nginx',
      'nginx:1.25',
      'registry.local:5000/org/app:v1',
      `app@sha256:${'a'.repeat(64)}`,
      'a/b_c/d-e:x.y',
    ]) {
      expect(() => parseInventory(`${base}${JSON.stringify(ok)} }\n`, 'h.yml'), ok).not.toThrow();
    }
    for (const bad of ['Nginx', 'a b', 'app:tag;rm', '-app', 'app:', '$(id)']) {
      expect(
        invalid(`${base}${JSON.stringify(bad)} }\n`).issues.map((i) => i.path),
        bad,
      ).toEqual(['services[0].image']);
    }
  });

  it("gives each service an offload mode: the one written, else edgectl for apps and probe edgectl, the http probe's path, else none", () => {
    const base = 'testbed: t\nhosts: [{ name: h, role: mu, address: 10.0.0.1 }]\nservices:\n';
    const inv = parseInventory(
      `${base}  - { name: a, port: 1, app: simple }\n` +
        '  - { name: b, port: 2, image: org/b }\n' +
        '  - { name: c, port: 3, image: org/c, probe: "http:/health" }\n' +
        '  - { name: d, port: 4, image: org/d, probe: edgectl }\n' +
        '  - { name: e, port: 5, image: org/e, offload: echo }\n' +
        '  - { name: f, port: 6, image: org/f, probe: "http:/health", offload: "http:/count?x=1" }\n' +
        '  - { name: g, port: 7, app: compute, offload: echo }\n',
      'h.yml',
    );
    expect(inv.services.map((s) => s.offload)).toEqual([
      { kind: 'edgectl' },
      null,
      { kind: 'http', path: '/health' },
      { kind: 'edgectl' },
      { kind: 'echo' },
      { kind: 'http', path: '/count?x=1' },
      { kind: 'echo' },
    ]);
    expect(inv.services.flatMap((s) => (s.offload ? [offloadText(s.offload)] : []))).toEqual([
      'edgectl',
      'http:/health',
      'edgectl',
      'echo',
      'http:/count?x=1',
      'echo',
    ]);
    for (const bad of ['http', 'http:count', 'http:/a b', 'tcp', 'none', 'ECHO', '1']) {
      const issues = invalid(
        `${base}  - { name: s, port: 1, image: o/s, offload: ${JSON.stringify(bad)} }\n`,
      ).issues;
      expect(
        issues.map((i) => [i.path, i.line]),
        bad,
      ).toEqual([['services[0].offload', 4]]);
    }
  });

  it('gives each service a downtime probe: edgectl for bundled apps, tcp for images, or the one written', () => {
    const base = 'testbed: t\nhosts: [{ name: h, role: mu, address: 10.0.0.1 }]\nservices:\n';
    const inv = parseInventory(
      `${base}  - { name: a, port: 1, app: simple }\n  - { name: b, port: 2, image: org/b }\n` +
        '  - { name: c, port: 3, image: org/c, probe: "http:/health?x=1", stateCheck: [cat, /data/counter] }\n' +
        '  - { name: d, port: 4, image: org/d, probe: none }\n',
      'h.yml',
    );
    expect(inv.services.map((s) => s.probe)).toEqual([
      { kind: 'edgectl' },
      { kind: 'tcp' },
      { kind: 'http', path: '/health?x=1' },
      { kind: 'none' },
    ]);
    expect(inv.services.map((s) => probeText(s.probe))).toEqual([
      'edgectl',
      'tcp',
      'http:/health?x=1',
      'none',
    ]);
    expect(inv.services[2]?.stateCheck).toEqual(['cat', '/data/counter']);
    expect(inv.services[0]?.stateCheck).toBeUndefined();
    for (const bad of ['http', 'http:health', 'http:/a b', 'udp', 'HTTP:/x']) {
      expect(
        invalid(`${base}  - { name: s, port: 1, image: o/s, probe: ${JSON.stringify(bad)} }\n`).issues.map(
          (i) => i.path,
        ),
        bad,
      ).toEqual(['services[0].probe']);
    }
    for (const bad of ['[]', '[""]', '"cat /x"', '["a\\nb"]']) {
      expect(
        invalid(`${base}  - { name: s, port: 1, image: o/s, stateCheck: ${bad} }\n`).issues[0]?.path,
        bad,
      ).toMatch(/^services\[0\]\.stateCheck/);
    }
  });

  it('shows the file as given, relative or absolute', () => {
    expect(invalid('testbed: 1\nhosts: []\n', 'lab/hosts.yml').message).toMatch(
      /^lab\/hosts\.yml:1:10: testbed: /,
    );
    expect(invalid('testbed: 1\nhosts: []\n', '/abs/hosts.yml').message).toMatch(/^\/abs\/hosts\.yml:1:10: /);
  });
});

describe('hostsFileFrom', () => {
  it('prefers the flag, then EDGECTL_HOSTS, then ./hosts.yml', () => {
    expect(hostsFileFrom('lab.yml', { EDGECTL_HOSTS: 'env.yml' })).toBe('lab.yml');
    expect(hostsFileFrom(undefined, { EDGECTL_HOSTS: 'env.yml' })).toBe('env.yml');
    expect(hostsFileFrom(undefined, {})).toBe('hosts.yml');
    expect(hostsFileFrom('', { EDGECTL_HOSTS: '' })).toBe('hosts.yml');
  });
});

describe("users' own addresses and ports", () => {
  const base = readFileSync(path.join(ROOT, 'test/fixtures/broken/user-unknown-service.yml'), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .join('\n')
    .replace('service: compute', 'service: simple');
  const second = (extra: string) =>
    `${base.trimEnd()}\n  - name: mu2\n    host: mu\n    service: simple\n    trajectory: { type: roundtrip, from: [0, 0], to: [100, 0], speed: 1 }\n${extra}`;

  it('default to userSubnet address 10 + k and port 20000 + k, by place in users', () => {
    const inv = parseInventory(second(''), 'h.yml');
    expect(inv.users.map((u) => [u.address, u.port])).toEqual([
      ['198.18.10.10', 20000],
      ['198.18.10.11', 20001],
    ]);
  });

  it('can be set per user, and then do not move when users are reordered', () => {
    const inv = parseInventory(second('    address: 198.18.10.200\n    port: 21000\n'), 'h.yml');
    expect(getUser(inv, 'mu2')).toMatchObject({ address: '198.18.10.200', port: 21000 });
    expect(getUser(inv, 'mu1')).toMatchObject({ address: '198.18.10.10', port: 20000 });
  });

  it('refuses a default address that does not fit in a small userSubnet', () => {
    const text = `${second('')}userSubnet: 198.18.10.0/29\n`.replace(
      '    service: simple\n',
      '    service: simple\n    address: 198.18.10.2\n',
    );
    const err = invalid(text, 'h.yml');
    expect(err.message).toMatch(/users\[1\]: expected room in userSubnet "198\.18\.10\.0\/29"/);
  });
});
