import { describe, expect, it } from 'vitest';
import {
  missingRuncOptions,
  parseCriuVersion,
  parseDockerVersion,
  parseTcProbe,
  parseToolVersion,
  probeArgv,
  probeInterfaceName,
  REQUIRED_RUNC_OPTIONS,
} from '../../src/lib/hosts/probes.js';

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
