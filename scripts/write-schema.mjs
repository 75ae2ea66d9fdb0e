#!/usr/bin/env node
// Writes schema/hosts.schema.json and the planner protocol's schemas (schema/planner-*.schema.json) from
// the built zod schemas (dist/): run through `npm run schema`, which builds first. test/unit/json-schema
// checks (everyday.test.ts, planner-exec.test.ts) fail when a committed file differs from what this writes.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const { inventoryJsonSchemaText, JSON_SCHEMA_PATH } = await import('../dist/lib/inventory/json-schema.js');
const { plannerJsonSchemaFiles } = await import('../dist/lib/planner/json-schema.js');
const files = [{ path: JSON_SCHEMA_PATH, text: inventoryJsonSchemaText() }, ...plannerJsonSchemaFiles()];
for (const f of files) {
  writeFileSync(fileURLToPath(new URL(`../${f.path}`, import.meta.url)), f.text);
  process.stdout.write(`wrote ${f.path}\n`);
}
