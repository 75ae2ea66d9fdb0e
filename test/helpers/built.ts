import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from './cli.js';

function newest(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) =>
      e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
    ),
  );
}

/**
 * Tests of the built CLI (bin/run.js, dist/, the oclif manifest) need `npm run build` first, as `npm test`
 * does: fail with that instruction rather than test an old build.
 */
export function assertBuilt(): void {
  const manifest = join(repoRoot, 'oclif.manifest.json');
  if (!existsSync(manifest) || !existsSync(join(repoRoot, 'dist', 'commands')))
    throw new Error('no build: run `npm run build` first (npm test does)');
  if (newest(join(repoRoot, 'src')) > statSync(manifest).mtimeMs)
    throw new Error('dist/ is older than src/: run `npm run build` first (npm test does)');
}
