/**
 * The integration tier shares one lab per run: `edgectl lab up` on the repository's hosts.yml before the
 * first test file, `edgectl lab down --purge` after the last one, also when tests failed or setup broke
 * half-way.
 * The lab is built with a session delay (vitest.config.ts): every new SSH session on it costs 2 s.
 */
import { execa } from 'execa';
import { repoRoot } from '../helpers/cli.js';

const bin = `${repoRoot}bin/run.js`;

async function edgectl(args: string[]): Promise<void> {
  const r = await execa(process.execPath, [bin, ...args, '-f', `${repoRoot}hosts.yml`], {
    reject: false,
    cwd: repoRoot,
    env: {
      NO_COLOR: '1',
      EDGECTL_LAB_SESSION_DELAY_MS: process.env['EDGECTL_LAB_SESSION_DELAY_MS'] ?? '2000',
    },
    timeout: 300_000,
  });
  if (r.exitCode !== 0)
    throw new Error(`edgectl ${args.join(' ')} exited ${r.exitCode}:\n${r.stderr}\n${r.stdout}`);
  process.stderr.write(String(r.stderr));
}

/**
 * EDGECTL_TEST_LAB=0: no lab, for a run of files that need none (the package test); the lock rules of the
 * integration tier still hold for them.
 */
const withLab = process.env['EDGECTL_TEST_LAB'] !== '0';

export async function setup(): Promise<void> {
  if (!withLab) return;
  try {
    await edgectl(['lab', 'up']);
  } catch (err) {
    await edgectl(['lab', 'down']).catch(() => {});
    throw err;
  }
}

/**
 * The lab down with its dockerds' data: a container a failed test left behind belongs to that test's state
 * database, and no later run's database may remove it (edgectl removes nothing it cannot prove it owns).
 */
export async function teardown(): Promise<void> {
  if (!withLab) return;
  await edgectl(['lab', 'down', '--purge']);
}
