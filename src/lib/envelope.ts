import { EdgectlError, ExitCode, errorMessage } from './errors.js';

/** The one JSON document a command prints on stdout under --json. */
export interface Envelope<T = unknown> {
  /** The process exit code. */
  status: number;
  result?: T;
  error?: { code: string; message: string; hint?: string; details?: unknown };
  warnings: string[];
}

export function successEnvelope<T>(result: T, warnings: string[], status = 0): Envelope<T> {
  return { status, result, warnings };
}

export function errorEnvelope(err: unknown, warnings: string[]): Envelope<never> {
  const e = toEdgectlError(err);
  return {
    status: e.exitCode,
    error: {
      code: e.code,
      message: e.message,
      ...(e.hint ? { hint: e.hint } : {}),
      ...(e.details === undefined ? {} : { details: e.details }),
    },
    warnings,
  };
}

/** oclif's own parse errors carry their exit code in `oclif.exit`; everything unknown is a bug. */
export function toEdgectlError(err: unknown): EdgectlError {
  if (err instanceof EdgectlError) return err;
  const oclifExit = (err as { oclif?: { exit?: number } } | undefined)?.oclif?.exit;
  if (oclifExit === 2) return new EdgectlError('USAGE', ExitCode.usage, errorMessage(err));
  return new EdgectlError('INTERNAL', ExitCode.internal, errorMessage(err), {
    hint: 'this is a bug in edgectl: please report it with the output of --verbose',
    cause: err,
  });
}
