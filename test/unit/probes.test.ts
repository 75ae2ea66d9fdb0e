import { describe, expect, it } from 'vitest';
import {
  missingRuncOptions,
  NODE_MIN_MAJOR,
  parseCriuVersion,
  parseDockerVersion,
  parseEdgectlVersion,
  parseIputilsVersion,
  parseNodeVersion,
  parseTcProbe,
  parseToolVersion,
  probeArgv,
  probeInterfaceName,
  REQUIRED_RUNC_OPTIONS,
} from '../../src/lib/hosts/probes.js';
import type { Host } from '../../src/lib/inventory/index.js';
import { remoteEdgectlArgv } from '../../src/lib/mu/offload.js';

describe('hosts check probes', () => {
  it('parses docker version with and without a daemon', () => {
    const up = JSON.stringify({
      Client: { Version: '28.2.2' },
      Server: { Version: '20.10.24+dfsg1', ApiVersion: '1.41', Experimental: true },
    });
    expect(parseDockerVersion(up)).toEqual({
      client: '28.2.2',
      version: '20.10.24+dfsg1',
      apiVersion: '1.41',
      experimental: true,
    });
    expect(parseDockerVersion(JSON.stringify({ Client: { Version: '20.10.24' }, Server: null }))).toEqual({
      client: '20.10.24',
      experimental: false,
    });
  });

  it('finds the CRIU options runc.conf lacks', () => {
    expect(missingRuncOptions('tcp-close\nskip-in-flight\n')).toEqual([]);
    expect(missingRuncOptions('# edgectl\n  tcp-close  \n')).toEqual(['skip-in-flight']);
    expect(missingRuncOptions('--tcp-close\n--skip-in-flight')).toEqual([]);
    expect(missingRuncOptions('# skip-in-flight\n')).toEqual(['tcp-close', 'skip-in-flight']);
    expect(missingRuncOptions('')).toEqual([...REQUIRED_RUNC_OPTIONS]);
  });

  it('parses criu and tool versions', () => {
    expect(parseCriuVersion('Version: 4.2\nGitID: v4.2\n')).toBe('4.2');
    expect(parseCriuVersion('criu: not found')).toBeUndefined();
    expect(parseToolVersion('rsync  version 3.2.7  protocol version 31')).toBe('3.2.7');
    expect(parseToolVersion('Xdelta version 3.0.11, Copyright (C) Joshua MacDonald')).toBe('3.0.11');
    expect(parseToolVersion('iptables v1.8.9 (nf_tables)')).toBe('1.8.9');
  });

  it('tells an iputils ping (it has -U, the monitor needs it) from busybox’s', () => {
    expect(parseIputilsVersion('ping from iputils 20221126\nlibcap: yes, IDN: yes')).toBe('20221126');
    expect(parseIputilsVersion('ping utility, iputils-s20180629')).toBe('20180629');
    expect(
      parseIputilsVersion("ping: invalid option -- 'V'\nBusyBox v1.35.0 (Debian) multi-call binary."),
    ).toBeUndefined();
    expect(parseIputilsVersion('sh: 1: ping: not found')).toBeUndefined();
  });

  it('parses the tc probe, keeping the kernel’s reasons', () => {
    expect(parseTcProbe('htb:yes\nnetem:yes\n')).toEqual({
      probed: true,
      htb: true,
      netem: true,
      reasons: [],
    });
    const noNetem = parseTcProbe('htb:yes\nnetem:no:Error: Specified qdisc kind is unknown.\n');
    expect(noNetem.netem).toBe(false);
    expect(noNetem.htb).toBe(true);
    expect(noNetem.reasons).toEqual(['tc netem: Error: Specified qdisc kind is unknown.']);
    const noDummy = parseTcProbe('dummy:no:RTNETLINK answers: Operation not permitted\n');
    expect(noDummy.probed).toBe(false);
    expect(noDummy.reasons[0]).toMatch(/Operation not permitted/);
  });

  it('builds a probe that always removes its interface', () => {
    const argv = probeArgv.tc('edgepr000001');
    expect(argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(argv[2]).toContain('trap');
    expect(argv.at(-1)).toBe('edgepr000001');
    expect(probeInterfaceName(() => 0.5)).toBe('edgepr800000');
    expect(probeInterfaceName().length).toBeLessThanOrEqual(14);
  });
});

describe('node and edgectl on a mu host', () => {
  it('asks node for its version and accepts 20 and later only', () => {
    expect(probeArgv.node()).toEqual(['node', '--version']);
    expect(parseNodeVersion('v20.20.2\n')).toEqual({ version: '20.20.2', major: 20, ok: true });
    expect(parseNodeVersion('v22.1.0')).toMatchObject({ major: 22, ok: true });
    expect(parseNodeVersion('v18.20.4\n')).toEqual({ version: '18.20.4', major: 18, ok: false });
    expect(NODE_MIN_MAJOR).toBe(20);
    expect(parseNodeVersion('sh: 1: node: not found')).toBeUndefined();
    expect(parseNodeVersion('')).toBeUndefined();
  });

  it('runs the edgectl that offload runs: edgectlPath, else $EDGECTL_BIN, else PATH', () => {
    const mu = (edgectlPath?: string) => ({ name: 'mu', edgectlPath }) as unknown as Host;
    expect(probeArgv.edgectl('/opt/edgectl/bin/run.js')).toEqual(
      remoteEdgectlArgv(mu('/opt/edgectl/bin/run.js'), ['--version']),
    );
    expect(probeArgv.edgectl(undefined)).toEqual(remoteEdgectlArgv(mu(), ['--version']));
    expect(probeArgv.edgectl(undefined).at(-1)).toBe('--version');
  });

  it('recognises edgectl’s version banner and nothing else', () => {
    expect(parseEdgectlVersion('edgectl/0.1.0 linux-x64 node-v20.20.2\n')).toEqual({
      version: '0.1.0',
      node: '20.20.2',
    });
    expect(parseEdgectlVersion('edgectl/0.2.0')).toEqual({ version: '0.2.0' });
    expect(parseEdgectlVersion('sh: 1: exec: edgectl: not found')).toBeUndefined();
    expect(parseEdgectlVersion('v20.20.2')).toBeUndefined();
    expect(parseEdgectlVersion('')).toBeUndefined();
  });

  it('parses what this checkout’s own edgectl prints', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { fileURLToPath } = await import('node:url');
    const run = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [run, '--version']);
    expect(parseEdgectlVersion(stdout)).toMatchObject({ node: process.versions.node });
    expect(parseNodeVersion(process.version)?.ok).toBe(true);
  });
});
