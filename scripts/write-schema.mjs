#!/usr/bin/env node
// Writes schema/hosts.schema.json from the built zod schema (dist/): run through `npm run schema`, which
// builds first. test/unit/json-schema.test.ts fails when the committed file differs from what this writes.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const { inventoryJsonSchemaText, JSON_SCHEMA_PATH } = await import('../dist/lib/inventory/json-schema.js');
const target = fileURLToPath(new URL(`../${JSON_SCHEMA_PATH}`, import.meta.url));
writeFileSync(target, inventoryJsonSchemaText());
process.stdout.write(`wrote ${JSON_SCHEMA_PATH}\n`);
