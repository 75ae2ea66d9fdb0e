import { EdgectlError, ExitCode } from '../errors.js';
import { shellJoin } from './quote.js';
import type { RunResult } from './types.js';

export type UnreachableReason =
  | 'refused'
  | 'timeout'
  | 'auth'
  | 'hostkey-unknown'
  | 'hostkey-mismatch'
  | 'unreachable'
  | 'key-file'
  | 'jump'
  | 'error';

export class HostUnreachableError extends EdgectlError {
  readonly host: string;
  readonly reason: UnreachableReason;

  constructor(host: string, reason: UnreachableReason, message: string, hint: string, cause?: unknown) {
    super(`SSH_${reason.toUpperCase().replaceAll('-', '_')}`, ExitCode.unreachable, message, { hint, cause });
    this.host = host;
    this.reason = reason;
  }
}

export class RemoteCommandError extends EdgectlError {
  readonly host: string;
  readonly result: RunResult;

  constructor(host: string, result: RunResult, what?: string) {
    const stderr = result.stderr.trim().split('\n').slice(-5).join('\n');
    const how = result.timedOut ? 'timed out' : `exited with ${result.code}`;
    super(
      'REMOTE_COMMAND_FAILED',
      ExitCode.remote,
      `${what ? `${what}: ` : ''}on ${host}: \`${shellJoin(result.argv)}\` ${how}${stderr ? `: ${stderr}` : ''}`,
      { details: { host, argv: result.argv, code: result.code, stderr: result.stderr } },
    );
    this.host = host;
    this.result = result;
  }
}
