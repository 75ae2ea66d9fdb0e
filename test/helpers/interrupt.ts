import { execa } from 'execa';
import type { Envelope } from '../../src/lib/envelope.js';
import { type CliRun, repoRoot } from './cli.js';

export interface InterruptedRun<T> extends CliRun<T> {
  /** Whether `when` matched (and the signal was sent). */
  sent: boolean;
  /** Stderr up to the moment the signal was sent. */
  stderrAtSignal: string;
}

/**
 * Runs the built CLI and sends it SIGINT the way a terminal's Ctrl+C does: to its whole process group
 * (the CLI and every child it runs in the foreground), as soon as its stderr so far matches `when`.
 */
export async function edgectlInterrupted<T = unknown>(
  args: readonly string[],
  when: RegExp,
  options: { signal?: NodeJS.Signals; timeoutMs?: number } = {},
): Promise<InterruptedRun<T>> {
  const child = execa(process.execPath, [`${repoRoot}bin/run.js`, ...args], {
    reject: false,
    cwd: repoRoot,
    env: { NO_COLOR: '1' },
    // Its own process group, as a terminal gives a foreground job: the signal goes to -pid.
    detached: true,
    timeout: options.timeoutMs ?? 120_000,
  });
  let stderr = '';
  let sent = false;
  let stderrAtSignal = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (!sent && when.test(stderr) && child.pid !== undefined) {
      sent = true;
      stderrAtSignal = stderr;
      try {
        process.kill(-child.pid, options.signal ?? 'SIGINT');
      } catch {
        // already gone
      }
    }
  });
  const r = await child;
  let json: Envelope<T> | undefined;
  if (args.includes('--json')) {
    try {
      json = JSON.parse(String(r.stdout)) as Envelope<T>;
    } catch {
      json = undefined;
    }
  }
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr, json, sent, stderrAtSignal };
}
