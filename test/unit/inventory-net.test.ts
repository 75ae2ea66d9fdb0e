import { describe, expect, it } from 'vitest';
import {
  cidrContains,
  cidrsOverlap,
  formatIpv4,
  isIpv4,
  parseBandwidth,
  parseCidr,
  parseDuration,
  parseIpv4,
  radioAddressing,
} from '../../src/lib/inventory/index.js';

describe('IPv4', () => {
  it('parses dotted quads and refuses anything looser', () => {
    expect(parseIpv4('198.18.0.10')).toBe(((198 * 256 + 18) * 256 + 0) * 256 + 10);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of [
      '198.18.0.256',
      '198.18.0',
      '198.18.0.1.2',
      '198.18.00.1',
      '198.18.0.-1',
      ' 198.18.0.1',
      '1e2.0.0.1',
      '',
    ]) {
      expect(isIpv4(bad), bad).toBe(false);
    }
    expect(formatIpv4(0xc6120001)).toBe('198.18.0.1');
  });

  it('parses CIDR blocks without host bits and tests overlap and containment', () => {
    expect(parseCidr('198.18.11.0/24')).toEqual({ network: parseIpv4('198.18.11.0'), prefix: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ network: 0, prefix: 0 });
    expect(parseCidr('198.18.11.7/32')).toBeDefined();
    for (const bad of [
      '198.18.11.5/24',
      '198.18.11.0/33',
      '198.18.11.0',
      '198.18.11.0/',
      '198.18.11.0/024',
    ]) {
      expect(parseCidr(bad), bad).toBeUndefined();
    }
    const a = parseCidr('198.18.11.0/24');
    const b = parseCidr('198.18.11.128/25');
    const c = parseCidr('198.18.12.0/24');
    if (!a || !b || !c) throw new Error('unparsed');
    expect(cidrsOverlap(a, b)).toBe(true);
    expect(cidrsOverlap(b, a)).toBe(true);
    expect(cidrsOverlap(a, c)).toBe(false);
    expect(cidrContains(a, parseIpv4('198.18.11.255') ?? 0)).toBe(true);
    expect(cidrContains(a, parseIpv4('198.18.12.0') ?? 0)).toBe(false);
  });

  it('derives the radio addressing: AP first host address, user host second', () => {
    expect(radioAddressing('198.18.12.0/24')).toMatchObject({
      apAddress: '198.18.12.1',
      userAddress: '198.18.12.2',
      apCidr: '198.18.12.1/24',
      userCidr: '198.18.12.2/24',
      netmask: '255.255.255.0',
      broadcast: '198.18.12.255',
    });
    expect(() => radioAddressing('198.18.12.0/31')).toThrow(RangeError);
    expect(() => radioAddressing('198.18.12.1/24')).toThrow(RangeError);
  });
});

describe('units', () => {
  it('parses tc bandwidths to bits per second', () => {
    expect(parseBandwidth('100mbit')).toEqual({ bps: 100e6, text: '100mbit' });
    expect(parseBandwidth('100Mbit')).toEqual({ bps: 100e6, text: '100mbit' });
    expect(parseBandwidth('1gbit')?.bps).toBe(1e9);
    expect(parseBandwidth('512kbit')?.bps).toBe(512e3);
    expect(parseBandwidth('1.5mbit')?.bps).toBe(1.5e6);
    for (const bad of ['0mbit', '-100mbit', '100', '100mbps', '100kbps', 'fast', '100 Mbit/s', '']) {
      expect(parseBandwidth(bad), bad).toBeUndefined();
    }
  });

  it('parses durations to milliseconds', () => {
    expect(parseDuration('50ms')).toBe(50);
    expect(parseDuration('0.5s')).toBe(500);
    expect(parseDuration('150us')).toBe(0.15);
    expect(parseDuration('0ms')).toBe(0);
    for (const bad of ['50', '-1ms', '2min', '1h', 'fast', ''])
      expect(parseDuration(bad), bad).toBeUndefined();
  });
});
