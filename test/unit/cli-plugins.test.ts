/**
 * The habits users bring from other oclif CLIs, on the built CLI (npm run build first): -h on every
 * command, -v/--version/version, shell completion for bash, a suggestion for a typo, the plumbing hidden.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../helpers/built.js';
import { edgectl, repoRoot } from '../helpers/cli.js';

const home = mkdtempSync(join(tmpdir(), 'edgectl-cli-home-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
// Nothing of the real home directory is read or written (autocomplete keeps a cache there).
const env = {
  HOME: home,
  XDG_CACHE_HOME: join(home, '.cache'),
  XDG_DATA_HOME: join(home, '.local', 'share'),
};
const version = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string })
  .version;

beforeAll(() => assertBuilt());

describe('the built CLI', () => {
  it('-h works on commands and topics, as --help does', async () => {
    for (const argv of [
      ['plan', '-h'],
      ['hosts', 'check', '-h'],
      ['experiment', 'run', '-h'],
      ['hosts', '-h'],
    ]) {
      const r = await edgectl(argv, { env });
      expect(r.exitCode, `${argv.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/USAGE/);
    }
    const plan = await edgectl(['plan', '-h'], { env });
    expect(plan.stdout).toMatch(/--time-limit=<duration>/);
    expect(plan.stdout).toMatch(/\(default unit: ms\)/);
  });

  it('-v, --version and version print the version', async () => {
    for (const argv of [['-v'], ['--version'], ['version']]) {
      const r = await edgectl(argv, { env });
      expect(r.exitCode, argv[0]).toBe(0);
      expect(r.stdout).toContain(`edgectl/${version}`);
    }
  });

  it('a typo gets the closest command, in the words the user types (not oclif’s ids)', async () => {
    const r = await edgectl(['depoy'], { env });
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toMatch(/Did you mean deploy\?/);
    const h = await edgectl(['hosts', 'chek'], { env });
    expect(h.stderr).toMatch(/Did you mean hosts check\?/);
    expect(h.stderr).not.toContain('hosts:chek');
    expect(h.stderr).toMatch(/hosts chek is not a edgectl command/);
  });

  it('autocomplete prints the bash set-up and writes no shell start-up file', async () => {
    const r = await edgectl(['autocomplete', 'bash'], { env });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/edgectl autocomplete script bash/);
    expect(existsSync(join(home, '.bashrc'))).toBe(false);
    const script = await edgectl(['autocomplete', 'script', 'bash'], { env });
    expect(script.stdout).toMatch(/EDGECTL_AC_BASH_SETUP_PATH/);
  });

  it('the top-level help shows the user commands, not the mu plumbing, which still works', async () => {
    const top = await edgectl(['--help'], { env });
    expect(top.stdout).toMatch(/\bdeploy\b/);
    expect(top.stdout).toMatch(/\bautocomplete\b/);
    expect(top.stdout).not.toMatch(/^\s+mu\b/m);
    const mu = await edgectl(['mu', 'run', '--help'], { env });
    expect(mu.exitCode).toBe(0);
    expect(mu.stdout).toMatch(/--blackout=<duration>/);
  });

  it('a bad duration is a usage error (exit 2) that names the flag and the units', async () => {
    const r = await edgectl(['handover', '--user', 'mu1', '--to', 'ap2', '--blackout', 'fast', '--json'], {
      env,
    });
    expect(r.exitCode).toBe(2);
    expect(r.json?.error?.code).toBe('USAGE');
    expect(r.json?.error?.message).toMatch(/--blackout[\s\S]*500ms, 2s or 1\.5s[\s\S]*"fast"/);
  });
});
