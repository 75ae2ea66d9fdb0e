export { HostUnreachableError, RemoteCommandError, type UnreachableReason } from './errors.js';
export {
  KeyStore,
  PASSPHRASE_ENV,
  type PassphrasePrompt,
  SshKeyError,
  terminalPassphrasePrompt,
} from './identity.js';
export { LocalExecutor } from './local.js';
export { shellJoin, shellQuote } from './quote.js';
export { ShellExecutor } from './shell.js';
export {
  destinationOf,
  fingerprint,
  type SshEndpoint,
  SshExecutor,
  SshPool,
  type SshPoolOptions,
  type SshTarget,
  wrapArgv,
} from './ssh.js';
export type { Executor, RemoteProcess, RunOptions, RunResult, SpawnOptions } from './types.js';

import { RemoteCommandError } from './errors.js';
import type { Executor, RunOptions, RunResult } from './types.js';

/** Runs argv and throws a RemoteCommandError (host, command, stderr) when it does not exit 0. */
export async function runChecked(
  executor: Executor,
  argv: readonly string[],
  options?: RunOptions & { what?: string },
): Promise<RunResult> {
  const result = await executor.run(argv, options);
  if (result.code !== 0) throw new RemoteCommandError(executor.host, result, options?.what);
  return result;
}
export { type BatchResult, batchScript, parseBatch, runBatch } from './batch.js';
