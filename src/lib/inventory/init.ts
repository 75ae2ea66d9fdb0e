/**
 * `edgectl init`: a hosts.yml to start from, copied from the files the package ships: the lab's (the
 * repository's own hosts.yml, what `edgectl lab up` builds) or a rack's (examples/rack/hosts.yml: example
 * values inside 198.18.0.0/15, each with a comment saying what to change). Both validate as they are, so a
 * new user's first `edgectl validate` passes and every later error is one they made; the rack's example
 * addresses are in the benchmarking range, which no real network routes, so `hosts check` says so at once.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { errorMessage, InternalError, UsageError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { InventoryError } from './errors.js';
import { JSON_SCHEMA_PATH } from './json-schema.js';
import { parseInventory } from './load.js';

export const TEMPLATES = {
  lab: 'hosts.yml',
  rack: 'examples/rack/hosts.yml',
} as const;
export type TemplateKind = keyof typeof TEMPLATES;

/** The package's root directory (this file is src/lib/inventory/ or dist/lib/inventory/ under it). */
const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A file the package ships, by its path relative to the package root. */
export function packageFile(relative: string): string {
  return path.join(PACKAGE_ROOT, relative);
}

/** The first line a template may carry that points editors at the JSON Schema. */
export const SCHEMA_MODELINE_RE = /^# yaml-language-server: \$schema=.*$/m;

/**
 * The template's text with its schema line pointing at the schema this package ships, by absolute path:
 * the line in the repository is relative to the repository's root, which means nothing beside a copy.
 */
export function withSchemaLine(text: string, schemaFile: string): string {
  const line = `# yaml-language-server: $schema=${schemaFile}`;
  return SCHEMA_MODELINE_RE.test(text) ? text.replace(SCHEMA_MODELINE_RE, line) : `${line}\n${text}`;
}

export interface InitRequest {
  kind: TemplateKind;
  /** Where to write. */
  out: string;
  /** Replace an existing file. */
  force?: boolean;
}

export interface InitResult {
  kind: TemplateKind;
  /** The file written (absolute). */
  file: string;
  /** The template it came from (absolute, inside the package). */
  template: string;
  /** The JSON Schema its first line points editors at (absolute, inside the package). */
  schema: string;
  /** An existing file was replaced (--force). */
  replaced: boolean;
  bytes: number;
}

/** The text `init` writes for a template: checked against the loader first, so init never writes a bad file. */
export async function templateText(kind: TemplateKind): Promise<{ template: string; text: string }> {
  const template = packageFile(TEMPLATES[kind]);
  const text = withSchemaLine(await readFile(template, 'utf8'), packageFile(JSON_SCHEMA_PATH));
  try {
    parseInventory(text, template);
  } catch (err) {
    if (err instanceof InventoryError)
      throw new InternalError(`the shipped ${kind} template ${template} does not validate: ${err.message}`);
    throw err;
  }
  return { template, text };
}

export async function initInventory(req: InitRequest): Promise<InitResult> {
  const file = path.resolve(req.out);
  const existing = await stat(file).catch(() => undefined);
  if (existing?.isDirectory())
    throw new UsageError(`${req.out} is a directory`, { hint: 'give --out a file name, like hosts.yml' });
  if (existing && !req.force)
    throw new UsageError(`${req.out} already exists; nothing was written`, {
      hint: `add --force to replace it, or --out OTHER.yml to write beside it`,
    });
  const { template, text } = await templateText(req.kind);
  try {
    // Without --force 'wx': a file that appeared since the check above is not overwritten either.
    if (req.force) await writeFileAtomic(file, text);
    else await writeFile(file, text, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST')
      throw new UsageError(`${req.out} already exists; nothing was written`);
    throw new UsageError(`cannot write ${req.out}: ${errorMessage(err)}`, {
      hint: 'check that its directory exists and is writable',
      cause: err,
    });
  }
  return {
    kind: req.kind,
    file,
    template,
    schema: packageFile(JSON_SCHEMA_PATH),
    replaced: existing !== undefined,
    bytes: Buffer.byteLength(text),
  };
}
