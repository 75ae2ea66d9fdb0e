import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { edgectl } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'edgectl-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the edgectl CLI contract', () => {
  it('--help lists the commands', async () => {
    const r = await edgectl(['--help']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/hosts/);
    const topic = await edgectl(['hosts', '--help']);
    expect(topic.stdout).toMatch(/hosts check/);
  });

  it('a missing hosts file: exit 3 and one JSON document naming the file', async () => {
    const r = await edgectl(['hosts', 'check', '-f', join(dir, 'nope.yml'), '--json']);
    expect(r.exitCode).toBe(3);
    expect(r.json).toMatchObject({ status: 3, error: { code: 'INVENTORY_NOT_FOUND' }, warnings: [] });
    expect(r.json?.error?.message).toContain('nope.yml');
  });

  it('EDGECTL_HOSTS names the inventory; an invalid one gives file:line:column and path on stderr', async () => {
    const file = join(dir, 'bad.yml');
    writeFileSync(file, 'testbed: x\nhosts:\n  - { name: a, role: edge, address: 1.2.3 }\n');
    const r = await edgectl(['hosts', 'check'], { env: { EDGECTL_HOSTS: file } });
    expect(r.exitCode).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bad\.yml:3:\d+: hosts\[0\]\.address/);
  });

  it('an unknown flag is a usage error (exit 2), also under --json', async () => {
    const r = await edgectl(['hosts', 'check', '--frobnicate', '--json']);
    expect(r.exitCode).toBe(2);
    expect(r.json?.status).toBe(2);
    expect(r.json?.error?.code).toBe('USAGE');
  });
});
