#!/usr/bin/env node
/**
 * Writes docs/reference/results.md (or OUT) from the data dictionary of the built package (dist/): run
 * through `npm run results-reference`, which builds first. test/unit/experiment-data.test.ts fails when the
 * committed page differs from what this writes.
 *
 *   node scripts/results-reference.mjs [OUT]
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const { resultsReference } = await import('../dist/lib/experiment/dictionary-md.js');
const target = resolve(
  process.argv[2] ?? fileURLToPath(new URL('../docs/reference/results.md', import.meta.url)),
);
writeFileSync(target, resultsReference());
process.stdout.write(`wrote ${target}\n`);
