import { describe, expect, it } from 'vitest';
import { DIAL_STDIO_ARGV, dialStdioCommand } from '../../src/lib/docker/client.js';
import type { SshTarget } from '../../src/lib/remote/index.js';
import { wrapArgv } from '../../src/lib/remote/index.js';

const target = (user: string, sudo: boolean): SshTarget => ({
  name: 'edge1',
  address: '198.18.0.11',
  ssh: { user, port: 22, acceptNewHostKeys: false, sudo, connectTimeoutMs: 5_000 },
});

describe('the dial-stdio channel of a docker client', () => {
  it('runs under sudo -n when the inventory asks for sudo and the ssh user is not root', () => {
    expect(dialStdioCommand(target('lab', true))).toBe('sudo -n -- docker system dial-stdio');
  });

  it('runs docker itself for root, or without sudo', () => {
    expect(dialStdioCommand(target('root', true))).toBe('docker system dial-stdio');
    expect(dialStdioCommand(target('lab', false))).toBe('docker system dial-stdio');
  });

  it('is the command line of the executor’s own wrapping (the probes of hosts check run the same way)', () => {
    for (const t of [target('lab', true), target('root', false)]) {
      expect(dialStdioCommand(t).split(' ')).toEqual(wrapArgv(t, DIAL_STDIO_ARGV));
    }
  });
});
