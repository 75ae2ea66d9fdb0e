/**
 * Colour: `--no-color` and NO_COLOR (any non-empty value) turn it off in a command's output; FORCE_COLOR
 * wins over NO_COLOR as in Node. The command is real (hosts check's table is coloured), its SSH probes
 * are faked.
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import chalk from 'chalk';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { colorDisabled } from '../../src/lib/cli/color.js';

vi.mock('../../src/lib/hosts/check.js', () => ({
  checkHosts: async () => ({
    testbed: 'paper-fig3',
    ready: true,
    hosts: [
      {
        name: 'edge1',
        role: 'edge',
        ssh: { ok: true, ms: 3 },
        ready: true,
        errors: [],
        warnings: [],
        latency: null,
        docker: null,
        criu: null,
        htb: true,
      },
    ],
  }),
}));
vi.mock('../../src/lib/hosts/score.js', () => ({ ensureCpuScores: async () => {} }));
const { default: HostsCheck } = await import('../../src/commands/hosts/check.js');

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'edgectl-cli-color-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ESC = '\u001b[';

const saved = {
  level: chalk.level,
  NO_COLOR: process.env['NO_COLOR'],
  FORCE_COLOR: process.env['FORCE_COLOR'],
};
afterEach(() => {
  chalk.level = saved.level;
  for (const k of ['NO_COLOR', 'FORCE_COLOR'] as const)
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
});

/** hosts check's human output, as if on a colour terminal (chalk at level 3) with this environment. */
async function output(
  env: { NO_COLOR?: string; FORCE_COLOR?: string },
  argv: string[] = [],
): Promise<string> {
  chalk.level = 3;
  delete process.env['NO_COLOR'];
  delete process.env['FORCE_COLOR'];
  Object.assign(process.env, env);
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await HostsCheck.run(['-f', join(ROOT, 'hosts.yml'), '--state', join(dir, 'state.db'), ...argv], ROOT);
    return out;
  } finally {
    vi.restoreAllMocks();
  }
}

describe('colour', () => {
  it('is on by default on a colour terminal (so the checks below can fail)', async () => {
    const out = await output({});
    expect(out).toContain('edge1');
    expect(out).toContain(ESC);
  });

  it('NO_COLOR=1 turns it off', async () => {
    const out = await output({ NO_COLOR: '1' });
    expect(out).toContain('edge1');
    expect(out).not.toContain(ESC);
  });

  it('--no-color turns it off, even with FORCE_COLOR', async () => {
    expect(await output({}, ['--no-color'])).not.toContain(ESC);
    expect(await output({ FORCE_COLOR: '1' }, ['--no-color'])).not.toContain(ESC);
  });

  it('an empty NO_COLOR is not set (no-color.org); FORCE_COLOR wins over NO_COLOR', async () => {
    expect(await output({ NO_COLOR: '' })).toContain(ESC);
    expect(colorDisabled(false, { NO_COLOR: '1', FORCE_COLOR: '1' })).toBe(false);
    expect(colorDisabled(false, { NO_COLOR: 'yes' })).toBe(true);
    expect(colorDisabled(true, { FORCE_COLOR: '3' })).toBe(true);
    expect(colorDisabled(false, {})).toBe(false);
  });
});
