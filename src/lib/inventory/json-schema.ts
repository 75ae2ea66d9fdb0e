/**
 * The JSON Schema of hosts.yml for editors (yaml-language-server: completion, hover, red squiggles), derived
 * from the zod schema so that the two cannot drift: schema/hosts.schema.json is this function's output,
 * written by `npm run schema`, and a unit test fails when the committed file is stale.
 *
 * It is generic on purpose: whatever the zod schema gains (a new key, a new mapping) appears here without a
 * change. What JSON Schema cannot say (an IPv4 address, a network without host bits, the cross-references
 * between hosts, links and users) stays with `edgectl validate`, which is the authority; the editor's
 * schema only catches the typos and the types early.
 */
import { z } from 'zod';
import { inventorySchema } from './schema.js';

/** Where the schema is published inside the package (relative to the package root). */
export const JSON_SCHEMA_PATH = 'schema/hosts.schema.json';

export function inventoryJsonSchema(): Record<string, unknown> {
  const generated = z.toJSONSchema(inventorySchema, {
    // Draft 7: the draft yaml-language-server and most editors support best.
    target: 'draft-7',
    // What a user writes (defaults optional), not what the loader returns.
    io: 'input',
    // Refinements and transforms (env values) have no JSON Schema form: their base type is kept.
    unrepresentable: 'any',
  });
  const { $schema, ...rest } = generated as Record<string, unknown>;
  return {
    $schema,
    title: 'edgectl hosts.yml',
    description:
      'The testbed inventory of edgectl. Generated from the zod schema; `edgectl validate` checks what this schema cannot (addresses, subnets, references between entries).',
    ...rest,
  };
}

/** The file's text: two-space JSON and a final newline, the form the committed file has. */
export function inventoryJsonSchemaText(): string {
  return `${JSON.stringify(inventoryJsonSchema(), null, 2)}\n`;
}
