/**
 * The JSON Schemas of the outside planner's protocol, derived from the zod schemas that edgectl itself
 * parses with (custom.ts), so that the published files cannot drift from the code: schema/planner-*.json
 * are this module's output, written by `npm run schema`; a unit test fails when a committed file is stale.
 */
import { z } from 'zod';
import { plannerAnswerSchema, plannerRequestSchema } from './custom.js';

/** Where the schemas are published inside the package (relative to the package root). */
export const PLANNER_REQUEST_SCHEMA_PATH = 'schema/planner-request.schema.json';
export const PLANNER_ANSWER_SCHEMA_PATH = 'schema/planner-answer.schema.json';

function schema(s: z.ZodType, io: 'input' | 'output', title: string, description: string) {
  const { $schema, ...rest } = z.toJSONSchema(s, { target: 'draft-7', io, unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return { $schema, title, description, ...rest };
}

/** What edgectl writes to a planner's standard input (every default filled in: io output). */
export function plannerRequestJsonSchema(): Record<string, unknown> {
  return schema(
    plannerRequestSchema,
    'output',
    'edgectl planner request',
    'What an outside planner reads on its standard input: the plan instant (epoch ms) and the plan input (the document `edgectl plan --save-input` writes). Generated from the zod schema.',
  );
}

/** What a planner writes to its standard output (what edgectl accepts: io input). */
export function plannerAnswerJsonSchema(): Record<string, unknown> {
  return schema(
    plannerAnswerSchema,
    'input',
    'edgectl planner answer',
    'What an outside planner writes on its standard output: one decision per user it moves (a user left out stays where it is), optionally with trigger times (epoch ms). edgectl checks every answer against the constraints. Generated from the zod schema.',
  );
}

/** Each schema file's path and text (two-space JSON, a final newline). */
export function plannerJsonSchemaFiles(): { path: string; text: string }[] {
  return [
    { path: PLANNER_REQUEST_SCHEMA_PATH, text: `${JSON.stringify(plannerRequestJsonSchema(), null, 2)}\n` },
    { path: PLANNER_ANSWER_SCHEMA_PATH, text: `${JSON.stringify(plannerAnswerJsonSchema(), null, 2)}\n` },
  ];
}
