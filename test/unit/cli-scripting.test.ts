/**
 * docs/guide/scripting.md is the one table of exit codes and of renamed flags: it must say what the code
 * does. Exit codes against ExitCode (src/lib/errors.ts); the renamed flags against the aliases the command
 * classes declare; the default units against the duration flags.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '@oclif/core';
import { describe, expect, it } from 'vitest';
import { DURATION_FLAG } from '../../src/lib/cli/flags.js';
import { ExitCode } from '../../src/lib/errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const guide = readFileSync(join(root, 'docs', 'guide', 'scripting.md'), 'utf8');

/** The rows of the markdown table that follows `heading`, as cells. */
function table(heading: string): string[][] {
  const at = guide.indexOf(`\n## ${heading}\n`);
  expect(at, heading).toBeGreaterThan(-1);
  const lines = guide.slice(at).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
  }
  return rows;
}

const commandsDir = join(root, 'src', 'commands');
function commandFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? commandFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}
const flags = (
  await Promise.all(
    commandFiles(commandsDir).map(async (file) => {
      const id = relative(commandsDir, file).replace(/\.ts$/, '').split('/').join(' ');
      const cmd = (await import(file)).default as typeof Command;
      return Object.entries(cmd.flags ?? {}).map(([name, f]) => ({
        id,
        name,
        flag: f as Record<string | symbol, unknown>,
      }));
    }),
  )
).flat();

describe('docs/guide/scripting.md', () => {
  it('lists exactly the exit codes of src/lib/errors.ts, by code and name', () => {
    const rows = table('Exit codes').map(([code, name]) => [Number(code), name?.replaceAll('`', '')]);
    const codes = Object.entries(ExitCode)
      .map(([name, code]) => [code, name])
      .sort((a, b) => Number(a[0]) - Number(b[0]));
    expect(rows).toEqual(codes);
  });

  it('lists every old flag name still accepted, and its new name', () => {
    const documented = table('Flags renamed')
      .map((r) => r.map((c) => c.replaceAll('`', '')).join(' '))
      .sort();
    const declared = flags
      .flatMap((f) =>
        ((f.flag['aliases'] as string[] | undefined) ?? []).map((a) => `${f.id} --${a} --${f.name}`),
      )
      .sort();
    expect(documented).toEqual(declared);
  });

  it('gives each user command’s duration flag its default unit', () => {
    const documented = new Map<string, string>();
    for (const [unit, list] of table('Durations'))
      for (const m of (list ?? '').matchAll(/`([a-z ]+?) ((?:--[a-z-]+ ?)+)`/g))
        for (const flag of (m[2] ?? '').trim().split(' ')) documented.set(`${m[1]} ${flag}`, unit ?? '');
    const declared = new Map(
      flags
        .filter((f) => f.flag[DURATION_FLAG] !== undefined && !f.id.startsWith('mu '))
        .map((f) => [`${f.id} --${f.name}`, String(f.flag[DURATION_FLAG])]),
    );
    expect(Object.fromEntries([...documented].sort())).toEqual(Object.fromEntries([...declared].sort()));
  });
});
