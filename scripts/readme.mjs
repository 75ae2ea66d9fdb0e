#!/usr/bin/env node
/**
 * Writes the command reference (one page per topic, and the index's list) into OUT_DIR, default
 * docs/reference, with oclif's own generator (`oclif readme --multi`) on the built CLI (npm run build
 * first). oclif writes the index's links from the package root ("docs/reference/plan.md"): they are made
 * relative to the index here. The root README.md is never touched. The unit test
 * test/unit/cli-reference.test.ts runs this into a temporary directory and compares.
 *
 *   node scripts/readme.mjs [OUT_DIR]
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = resolve(process.argv[2] ?? join(root, 'docs', 'reference'));
const index = join(out, 'README.md');
// The index's own text (outside its commands markers) lives in docs/reference/README.md.
const template = join(root, 'docs', 'reference', 'README.md');
if (!existsSync(index)) copyFileSync(template, index);

const oclif = join(dirname(createRequire(import.meta.url).resolve('oclif/package.json')), 'bin', 'run.js');
const outArg = relative(root, out) || '.';
execFileSync(
  process.execPath,
  // No aliases (the old flag names are listed in docs/guide/scripting.md), no links to the source on a
  // hosting site the package does not name.
  [
    ...[oclif, 'readme', '--multi', '--no-aliases', '--no-source-links'],
    ...['--output-dir', outArg, '--readme-path', relative(root, index)],
  ],
  // A fixed width, whatever the terminal: the pages are compared byte for byte.
  {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, COLUMNS: '120', OCLIF_COLUMNS: '120', OCLIF_SKIP_NEW_VERSION_CHECK: 'true' },
  },
);
// Links: "](docs/reference/plan.md)" -> "](plan.md)".
const text = readFileSync(index, 'utf8');
writeFileSync(index, text.split(`](${outArg}/`).join(']('));
