/**
 * Runs an edgectl command class in this process under --json, with stdout and stderr captured: its JSON
 * envelope, and the exit code it set (oclif sets process.exitCode only at the end of a real process; the
 * envelope's status is that code). process.exitCode is put back afterwards.
 */
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface JsonRun<E> {
  envelope: E;
  exitCode: number;
}

export async function runJson<E = Record<string, unknown>>(
  cmd: { run(argv: string[], root: string): Promise<unknown> },
  argv: string[],
): Promise<JsonRun<E>> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const before = process.exitCode;
  process.exitCode = undefined;
  try {
    await cmd.run([...argv, '--json'], ROOT).catch(() => {});
    return { envelope: JSON.parse(out) as E, exitCode: Number(process.exitCode ?? 0) };
  } finally {
    vi.restoreAllMocks();
    process.exitCode = before;
  }
}
