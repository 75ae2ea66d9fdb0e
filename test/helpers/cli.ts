import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import type { Envelope } from '../../src/lib/envelope.js';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const bin = `${repoRoot}bin/run.js`;

export interface CliRun<T> {
  exitCode: number;
  stdout: string;
  stderr: string;
  json: Envelope<T> | undefined;
}

/** Runs the built CLI as a user would (node bin/run.js ...); parses stdout as the envelope under --json. */
export async function edgectl<T = unknown>(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<CliRun<T>> {
  const r = await execa(process.execPath, [bin, ...args], {
    reject: false,
    cwd: options.cwd ?? repoRoot,
    env: { NO_COLOR: '1', ...options.env },
    timeout: options.timeoutMs ?? 120_000,
  });
  let json: Envelope<T> | undefined;
  if (args.includes('--json')) json = JSON.parse(String(r.stdout)) as Envelope<T>;
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr), json };
}
