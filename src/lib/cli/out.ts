/**
 * The results directory a command writes (`--out`): never silently over someone's files.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EdgectlError, ExitCode, UsageError } from '../errors.js';

/** `--out` names a directory that holds files, and --force was not given (exit 2, a conflict). */
export class OutDirNotEmptyError extends EdgectlError {
  constructor(readonly dir: string) {
    super('OUT_DIR_NOT_EMPTY', ExitCode.usage, `${dir} already exists and is not empty`, {
      hint: 'choose another --out, or give --force to write into it (files of the same name are replaced)',
      details: { dir },
    });
  }
}

/** The experiment id a results directory's meta.json gives, if it has one. */
function experimentIdOf(dir: string): number | undefined {
  try {
    const id = (JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')) as { id?: unknown }).id;
    return typeof id === 'number' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Refuses an existing non-empty `dir` unless `force`, or unless it is experiment `ownId`'s own results
 * directory (meta.json says so): --resume and export rewrite their own directory by design.
 */
export function checkOutDir(dir: string, options: { force: boolean; ownId?: number }): void {
  let entries: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new UsageError(`--out ${dir} is a file, not a directory`);
    entries = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (entries.length === 0 || options.force) return;
  if (options.ownId !== undefined && experimentIdOf(dir) === options.ownId) return;
  throw new OutDirNotEmptyError(dir);
}
