/**
 * Typed errors. Every failure that reaches the user is an EdgectlError: it carries a stable code, the
 * process exit code, and (where we know it) what to try next. The exit codes are documented in
 * docs/guide/scripting.md (a unit test keeps that table and this object the same).
 */
export const ExitCode = {
  ok: 0,
  /** Unexpected failure: a bug in edgectl. */
  internal: 1,
  /** Bad command-line usage (unknown flag, missing argument, a bad value) or a conflict (LOCKED, NOT_OWNED, OUT_DIR_NOT_EMPTY). */
  usage: 2,
  /** hosts.yml missing or invalid. */
  inventory: 3,
  /** A host could not be reached over SSH (refused, timeout, auth, host key). */
  unreachable: 4,
  /** A command on a host failed. */
  remote: 5,
  /** Not ready: hosts reachable but not ready for their role (hosts check), the lab not up (lab status), no monitor data to plan from (plan), no data for a figure asked for (experiment report). */
  notReady: 6,
  /** The local machine cannot do what was asked (missing kernel feature, not root, ...). */
  unsupported: 7,
  /** An outside planner failed: it could not start, timed out, crashed, or answered nothing valid or broke a constraint (plan). */
  planner: 8,
  /** No such command (set by @oclif/plugin-not-found, as a shell does; the closest command is suggested). */
  unknownCommand: 127,
  /** Interrupted (SIGINT, SIGTERM, SIGHUP): what was under way was finished or undone first. */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface EdgectlErrorOptions {
  hint?: string;
  cause?: unknown;
  details?: unknown;
}

export class EdgectlError extends Error {
  readonly code: string;
  readonly exitCode: ExitCodeValue;
  readonly hint: string | undefined;
  readonly details: unknown;

  constructor(code: string, exitCode: ExitCodeValue, message: string, options: EdgectlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EdgectlError';
    this.code = code;
    this.exitCode = exitCode;
    this.hint = options.hint;
    this.details = options.details;
  }
}

export class UsageError extends EdgectlError {
  constructor(message: string, options: EdgectlErrorOptions = {}) {
    super('USAGE', ExitCode.usage, message, options);
  }
}

export class UnsupportedError extends EdgectlError {
  constructor(message: string, options: EdgectlErrorOptions = {}) {
    super('UNSUPPORTED', ExitCode.unsupported, message, options);
  }
}

/**
 * Ctrl+C (SIGINT), SIGTERM or SIGHUP reached the command: the reason of the AbortSignal every step receives.
 * What the step had under way is finished or undone before this reaches the user (exit 130).
 */
export class InterruptedError extends EdgectlError {
  constructor(
    readonly signalName: string,
    message = `interrupted (${signalName})`,
    options: EdgectlErrorOptions = {},
  ) {
    super('INTERRUPTED', ExitCode.interrupted, message, options);
  }
}

/** Throws the signal's reason (an InterruptedError) when it has been aborted. */
export function throwIfInterrupted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new InterruptedError('abort');
}

/** A bug: something that should not happen whatever the input. */
export class InternalError extends EdgectlError {
  constructor(message: string, options: EdgectlErrorOptions = {}) {
    super('INTERNAL', ExitCode.internal, message, options);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
