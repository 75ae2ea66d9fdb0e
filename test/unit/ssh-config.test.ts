import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/lib/errors.js';
import { getHost, InventoryError, parseInventory } from '../../src/lib/inventory/index.js';
import {
  isJumpList,
  lookupSshConfig,
  parseJumpSpec,
  parseSshConfig,
  splitJump,
} from '../../src/lib/inventory/ssh-config.js';

const CTX = { home: '/home/alice', localUser: 'alice' };
const tmp = mkdtempSync(path.join(tmpdir(), 'edgectl-ssh-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const RACK_CONFIG = `
# a rack behind the department's gateway
Host gw
  HostName gw.cs.example.org
  User alice
  Port 2222
  IdentityFile ~/.ssh/gw_ed25519

Host edge* !edge9
  User ubuntu
  ProxyJump gw
  IdentityFile ~/.ssh/rack_ed25519
  IdentityFile %d/.ssh/%r_fallback
  UserKnownHostsFile /dev/null ~/.ssh/rack_known_hosts
  StrictHostKeyChecking no

Host cloud
  HostName 10.1.0.10
  Port 22022
  StrictHostKeyChecking yes

Host *
  User nobody-default
  IdentityAgent none
`;

describe('lookupSshConfig', () => {
  const config = parseSshConfig(RACK_CONFIG);

  it('reads HostName, User, Port and every IdentityFile, with ~ and %-tokens expanded', () => {
    const e = lookupSshConfig(config, 'edge1', CTX);
    expect(e.user).toBe('ubuntu');
    expect(e.proxyJump).toBe('gw');
    expect(e.identityFiles).toEqual(['/home/alice/.ssh/rack_ed25519', '/home/alice/.ssh/ubuntu_fallback']);
    expect(e.hostName).toBeUndefined();
    expect(e.identityAgent).toBe('none');
    const gw = lookupSshConfig(config, 'gw', CTX);
    expect(gw).toMatchObject({ hostName: 'gw.cs.example.org', user: 'alice', port: 2222 });
  });

  it('never lets the file turn host-key checking off', () => {
    const e = lookupSshConfig(config, 'edge2', CTX);
    // /dev/null is skipped: the next file named is used.
    expect(e.knownHosts).toBe('/home/alice/.ssh/rack_known_hosts');
    // StrictHostKeyChecking no: unknown keys recorded, a changed key still refused (accept-new).
    expect(e.acceptNewHostKeys).toBe(true);
    expect(lookupSshConfig(config, 'cloud', CTX).acceptNewHostKeys).toBe(false);
  });

  it('honours negated patterns and first-value-wins', () => {
    const e = lookupSshConfig(config, 'edge9', CTX);
    expect(e.user).toBe('nobody-default');
    expect(e.proxyJump).toBeUndefined();
  });

  it('never runs Match exec', () => {
    const marker = path.join(tmp, 'exec-ran');
    const c = parseSshConfig(`Match exec "touch ${marker}"\n  User pwned\n`);
    const e = lookupSshConfig(c, 'edge1', CTX);
    expect(existsSync(marker)).toBe(false);
    expect(e.user).toBeUndefined();
    expect(e.warnings.join(' ')).toMatch(/Match exec/);
  });
});

describe('jump specs', () => {
  it('parses [user@]host[:port] and ssh:// URIs', () => {
    expect(parseJumpSpec('cloud')).toEqual({ host: 'cloud' });
    expect(parseJumpSpec('alice@gw.example.org:2222')).toEqual({
      user: 'alice',
      host: 'gw.example.org',
      port: 2222,
    });
    expect(parseJumpSpec('ssh://bob@198.18.0.10')).toEqual({ user: 'bob', host: '198.18.0.10' });
    expect(parseJumpSpec('gw:70000')).toBeUndefined();
    expect(parseJumpSpec('-oProxyCommand=x')).toBeUndefined();
    expect(parseJumpSpec('a b')).toBeUndefined();
  });

  it('splits comma lists; none is empty', () => {
    expect(splitJump('gw, cloud')).toEqual(['gw', 'cloud']);
    expect(splitJump('none')).toEqual([]);
    expect(isJumpList('gw,alice@cloud:22')).toBe(true);
    expect(isJumpList('gw,,cloud')).toBe(false);
  });
});

/** An inventory of a rack: cloud (the gateway), edge1, edge2, and the ssh config given. */
function rack(hostsYaml: string, configText?: string, defaults = '') {
  const text = `testbed: rack
defaults:
  ssh:
    knownHosts: /etc/edgectl/known_hosts
${defaults}
hosts:
${hostsYaml}
`;
  return parseInventory(text, 'hosts.yml', {
    cwd: '/srv/lab',
    ssh: {
      readConfig: (file) => (file === '/home/alice/.ssh/config' ? configText : undefined),
      env: {},
      expand: CTX,
    },
  });
}

const THREE = `  - { name: cloud, role: cloud, address: 10.1.0.10, capacity: { cpus: 4, memMB: 4096 } }
  - { name: edge1, role: edge, address: 10.1.0.11, capacity: { cpus: 4, memMB: 4096 } }
  - { name: edge2, role: edge, address: 10.1.0.12, capacity: { cpus: 4, memMB: 4096 }, ssh: { jump: cloud } }`;

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InventoryError);
    expect((err as InventoryError).exitCode).toBe(ExitCode.inventory);
    return (err as InventoryError).issues.map((i) => `${i.line}:${i.path}: ${i.message}`);
  }
  throw new Error('expected an InventoryError');
}

describe('precedence: hosts.yml > ssh config > defaults', () => {
  const config = `Host edge1 edge2
  User ubuntu
  Port 2200
  IdentityFile ~/.ssh/rack
  HostName edge-%h.rack.example.org
Host cloud
  User admin
  UserKnownHostsFile ~/.ssh/known_rack
`;

  it('fills what hosts.yml leaves open from the ssh config, and the rest from the defaults', () => {
    const inv = rack(
      `  - { name: cloud, role: cloud, address: 10.1.0.10, capacity: { cpus: 4, memMB: 4096 }, ssh: { user: root } }
  - { name: edge1, role: edge, address: 10.1.0.11, capacity: { cpus: 4, memMB: 4096 }, ssh: { port: 22, identityFile: keys/id } }
  - { name: edge2, role: edge, address: 10.1.0.12, capacity: { cpus: 4, memMB: 4096 } }`,
      config,
    );
    const cloud = getHost(inv, 'cloud').ssh;
    expect(cloud.user).toBe('root'); // hosts.yml wins over User admin
    expect(cloud.knownHosts).toBe('/etc/edgectl/known_hosts'); // defaults.ssh wins over the file
    expect(cloud.port).toBe(22); // built-in default
    expect(cloud.configFile).toBe('/home/alice/.ssh/config');

    const edge1 = getHost(inv, 'edge1').ssh;
    expect(edge1).toMatchObject({ user: 'ubuntu', port: 22, identityFile: '/srv/lab/keys/id' });
    // hosts.yml names a key: the file's IdentityFile is not used.
    expect(edge1.configIdentityFiles).toBeUndefined();
    expect(edge1.hostName).toBe('edge-edge1.rack.example.org');

    const edge2 = getHost(inv, 'edge2').ssh;
    expect(edge2).toMatchObject({
      user: 'ubuntu',
      port: 2200,
      configIdentityFiles: ['/home/alice/.ssh/rack'],
    });
    expect(edge2.identityFile).toBeUndefined();
    // The address stays what hosts.yml says (the data plane uses it); only SSH goes to HostName.
    expect(getHost(inv, 'edge2').address).toBe('10.1.0.12');
  });

  it('reads no file with ssh.config: none, and reports a named file that does not exist', () => {
    const inv = rack(THREE.replace('ssh: { jump: cloud }', 'ssh: { config: none }'), config);
    expect(getHost(inv, 'edge2').ssh).toMatchObject({ user: 'root', port: 22 });
    expect(getHost(inv, 'edge2').ssh.configFile).toBeUndefined();
    expect(getHost(inv, 'edge1').ssh.user).toBe('ubuntu');
    const issues = issuesOf(() =>
      rack(THREE.replace('ssh: { jump: cloud }', 'ssh: { config: ./nope }'), config),
    );
    expect(issues).toEqual([
      expect.stringMatching(
        /^9:hosts\[2\]\.ssh\.config: expected an ssh config file, got "\.\/nope", which does not exist \(\/srv\/lab\/nope\)$/,
      ),
    ]);
  });

  it('carries what of the file it did not follow (Include, Match exec) as warnings, once per file', () => {
    const inv = rack(THREE, `Include ~/.ssh/more\nMatch exec "true"\n  User x\nHost *\n  User ubuntu\n`);
    expect(inv.warnings).toEqual([
      '/home/alice/.ssh/config: Include is not followed',
      '/home/alice/.ssh/config: Match exec is never run (its block does not apply)',
    ]);
    expect(rack(THREE, config).warnings).toBeUndefined();
  });

  it('takes the file from EDGECTL_SSH_CONFIG when hosts.yml names none', () => {
    const inv = parseInventory(
      `testbed: t\nhosts:\n  - { name: a, role: mu, address: 10.0.0.1 }\n`,
      'h.yml',
      {
        ssh: {
          env: { EDGECTL_SSH_CONFIG: '/etc/rack.conf' },
          readConfig: (f) => (f === '/etc/rack.conf' ? 'Host a\n  User ops\n' : undefined),
          expand: CTX,
        },
      },
    );
    expect(getHost(inv, 'a').ssh.user).toBe('ops');
  });
});

describe('jump hosts', () => {
  it("goes through a host of the inventory named in ssh.jump, with that host's own settings", () => {
    const inv = rack(THREE);
    const edge2 = getHost(inv, 'edge2').ssh;
    expect(edge2.jump).toBe('cloud');
    expect(edge2.via?.map((h) => [h.name, h.address, h.ssh.user, h.ssh.knownHosts])).toEqual([
      ['cloud', '10.1.0.10', 'root', '/etc/edgectl/known_hosts'],
    ]);
    expect(getHost(inv, 'edge1').ssh.via).toBeUndefined();
  });

  it('goes through a user@host:port spec, filled from the ssh config and the served host', () => {
    const inv = rack(
      THREE.replace('jump: cloud', 'jump: "alice@gw.example.org:2222"'),
      'Host gw.example.org\n  IdentityFile ~/.ssh/gw\n',
    );
    const [hop] = getHost(inv, 'edge2').ssh.via ?? [];
    expect(hop).toMatchObject({
      name: 'alice@gw.example.org:2222',
      address: 'gw.example.org',
      ssh: {
        user: 'alice',
        port: 2222,
        configIdentityFiles: ['/home/alice/.ssh/gw'],
        // The gateway's key is checked against the known_hosts of the host it leads to.
        knownHosts: '/etc/edgectl/known_hosts',
        sudo: false,
      },
    });
  });

  it("follows chains: a list in order, and the first hop's own jump before it", () => {
    const inv = rack(
      `  - { name: bastion, role: mu, address: 10.1.0.2 }
  - { name: cloud, role: cloud, address: 10.1.0.10, capacity: { cpus: 4, memMB: 4096 }, ssh: { jump: "ops@outer.example.org" } }
  - { name: edge1, role: edge, address: 10.1.0.11, capacity: { cpus: 4, memMB: 4096 }, ssh: { jump: "cloud,bastion" } }`,
    );
    expect(getHost(inv, 'edge1').ssh.via?.map((h) => h.name)).toEqual([
      'ops@outer.example.org',
      'cloud',
      'bastion',
    ]);
  });

  it('uses ProxyJump of the ssh config unless hosts.yml says jump: none', () => {
    const config = 'Host edge*\n  ProxyJump cloud\n';
    const inv = rack(THREE.replace('ssh: { jump: cloud }', 'ssh: { jump: none }'), config);
    expect(getHost(inv, 'edge1').ssh.via?.map((h) => h.name)).toEqual(['cloud']);
    expect(getHost(inv, 'edge2').ssh.via).toBeUndefined();
  });

  it('reaches the gateway itself directly when defaults.ssh.jump names it', () => {
    const inv = rack(THREE.replace(', ssh: { jump: cloud }', ''), undefined, '    jump: cloud');
    expect(getHost(inv, 'cloud').ssh.via).toBeUndefined();
    expect(getHost(inv, 'edge1').ssh.via?.map((h) => h.name)).toEqual(['cloud']);
  });

  it('refuses loops and a host jumping through itself, at their line', () => {
    const loop = issuesOf(() =>
      rack(
        THREE.replace(
          'capacity: { cpus: 4, memMB: 4096 } }\n  - { name: edge1',
          'capacity: { cpus: 4, memMB: 4096 }, ssh: { jump: edge2 } }\n  - { name: edge1',
        ),
      ),
    );
    expect(loop.join('\n')).toMatch(/hosts\[0\]\.ssh\.jump: .*a loop: cloud -> edge2 -> cloud/);
    expect(loop.join('\n')).toMatch(/hosts\[2\]\.ssh\.jump: .*a loop: edge2 -> cloud -> edge2/);
    const self = issuesOf(() => rack(THREE.replace('jump: cloud', 'jump: "cloud,edge2"')));
    expect(self).toEqual([expect.stringMatching(/hosts\[2\]\.ssh\.jump: .*names host "edge2" itself/)]);
    const viaConfig = issuesOf(() =>
      rack(
        THREE.replace(', ssh: { jump: cloud }', ''),
        'Host gw\n  ProxyJump gw2\nHost gw2\n  ProxyJump gw\nHost edge1\n  ProxyJump gw\n',
      ),
    );
    expect(viaConfig).toEqual([
      expect.stringMatching(
        /hosts\[1\]\.name: .*ProxyJump of \/home\/alice\/\.ssh\/config.*a loop: edge1 -> gw -> gw2 -> gw/,
      ),
    ]);
  });

  it('rejects a jump that is not a list of hosts', () => {
    const issues = issuesOf(() => rack(THREE.replace('jump: cloud', 'jump: "cloud; rm -rf /"')));
    expect(issues).toEqual([
      expect.stringMatching(/hosts\[2\]\.ssh\.jump: expected jump hosts separated by commas/),
    ]);
  });
});
