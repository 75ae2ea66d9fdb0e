import { execa } from 'execa';
import type { Executor, RunOptions, RunResult } from './types.js';

/** Runs commands on the controller itself (this machine). */
export class LocalExecutor implements Executor {
  readonly host = 'local';

  async run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const [file, ...args] = argv;
    if (!file) throw new Error('empty argv');
    const started = performance.now();
    const result = await execa(file, args, {
      reject: false,
      stripFinalNewline: false,
      ...(options.stdin !== undefined ? { input: options.stdin } : { stdin: 'ignore' as const }),
      ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
    // No exit code and no timeout: the program could not be started at all (e.g. not installed).
    const notStarted = result.exitCode === undefined && !result.timedOut;
    const code = result.timedOut ? 124 : notStarted ? 127 : (result.exitCode ?? 0);
    return {
      argv,
      code,
      stdout: String(result.stdout ?? ''),
      stderr: notStarted ? (result.shortMessage ?? 'could not start') : String(result.stderr ?? ''),
      ms: performance.now() - started,
      timedOut: result.timedOut,
    };
  }
}
