/**
 * Many read-only commands in one SSH round trip: each SSH command costs a session on the host (a fork,
 * a shell, an exec), which dominates when a host has dozens of small reads to make. The commands run
 * one after another in one `sh`; each one's stdout and exit code come back separately.
 */
import { shellJoin } from './quote.js';
import type { Executor, RunOptions } from './types.js';

export interface BatchResult {
  code: number;
  stdout: string;
}

const MARK = '@@edgectl-batch';

export function batchScript(argvs: readonly (readonly string[])[]): string {
  return argvs
    .map(
      (argv, i) =>
        `printf '\\n${MARK} %s start\\n' ${i}; ${shellJoin(argv)} 2>/dev/null; printf '\\n${MARK} %s end %s\\n' ${i} $?`,
    )
    .join('\n');
}

export function parseBatch(stdout: string, count: number): BatchResult[] {
  const results: BatchResult[] = [];
  for (let i = 0; i < count; i++) {
    const start = stdout.indexOf(`\n${MARK} ${i} start\n`);
    const endRe = new RegExp(`\\n${MARK} ${i} end (\\d+)\\n`);
    const end = endRe.exec(stdout.slice(Math.max(start, 0)));
    if (start < 0 || !end) {
      results.push({ code: -1, stdout: '' });
      continue;
    }
    const bodyStart = start + `\n${MARK} ${i} start\n`.length;
    const bodyEnd = start + end.index;
    results.push({ code: Number(end[1]), stdout: stdout.slice(bodyStart, Math.max(bodyStart, bodyEnd)) });
  }
  return results;
}

/** Runs read-only argvs in one session; a command's stderr is dropped, its stdout and code kept. */
export async function runBatch(
  exec: Executor,
  argvs: readonly (readonly string[])[],
  options: RunOptions = {},
): Promise<BatchResult[]> {
  if (argvs.length === 0) return [];
  const r = await exec.run(['sh', '-c', batchScript(argvs)], options);
  return parseBatch(r.stdout, argvs.length);
}
