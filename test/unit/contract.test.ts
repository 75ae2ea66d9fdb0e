/**
 * The CLI contract: every command's flags (names, short forms, defaults, env) are kept in
 * test/contract/commands.json, so a renamed or dropped flag fails here before it breaks a lab script.
 * After an intended change: `npx vitest run --project unit -u test/unit/contract.test.ts`.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from '@oclif/core';
import { describe, expect, it } from 'vitest';

const commandsDir = fileURLToPath(new URL('../../src/commands', import.meta.url));

function commandFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? commandFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

describe('CLI contract', () => {
  it('keeps every command and flag', async () => {
    const contract: Record<string, unknown> = {};
    for (const file of commandFiles(commandsDir).sort()) {
      const id = relative(commandsDir, file).replace(/\.ts$/, '').split('/').join(' ');
      const cmd = (await import(file)).default as typeof Command & { baseFlags?: Record<string, unknown> };
      const flags = { ...cmd.baseFlags, ...cmd.flags } as Record<string, Record<string, unknown>>;
      contract[id] = {
        json: cmd.enableJsonFlag === true,
        args: Object.keys(cmd.args ?? {}),
        flags: Object.fromEntries(
          Object.entries(flags)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([name, f]) => [
              name,
              {
                type: f['type'],
                ...(f['char'] ? { char: f['char'] } : {}),
                ...(f['multiple'] ? { multiple: true } : {}),
                ...(f['default'] !== undefined && typeof f['default'] !== 'function'
                  ? { default: f['default'] }
                  : {}),
                ...(f['env'] ? { env: f['env'] } : {}),
                ...(f['options'] ? { options: f['options'] } : {}),
              },
            ]),
        ),
      };
    }
    await expect(`${JSON.stringify(contract, null, 2)}\n`).toMatchFileSnapshot('../contract/commands.json');
  });
});
