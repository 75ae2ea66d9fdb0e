/**
 * The everyday commands that need no testbed: `validate` (over the broken-inventory corpus and the shipped
 * files), `init` (its output validates; it never replaces a file without --force), the JSON Schema for
 * editors (the committed file is what the zod schema generates), and `status` against hosts that refuse
 * every connection (each row says why, the command does not fail, and no state database appears).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { splitLogStream } from '../../src/lib/docker/logs.js';
import type { Envelope } from '../../src/lib/envelope.js';
import { ExitCode } from '../../src/lib/errors.js';
import { InventoryError, inventorySchema, loadInventory } from '../../src/lib/inventory/index.js';
import { SCHEMA_MODELINE_RE, TEMPLATES } from '../../src/lib/inventory/init.js';
import { inventoryJsonSchemaText, JSON_SCHEMA_PATH } from '../../src/lib/inventory/json-schema.js';
import { validateInventory } from '../../src/lib/inventory/validate.js';
import { agentStatusArgv, parseAgentStatus } from '../../src/lib/mu/agent-status.js';
import { openState } from '../../src/lib/state/index.js';
import type { StatusResult } from '../../src/lib/status/status.js';

const { default: Validate } = await import('../../src/commands/validate.js');
const { default: Init } = await import('../../src/commands/init.js');
const { default: Status } = await import('../../src/commands/status.js');

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BROKEN = join(ROOT, 'test/fixtures/broken');
const tmp = mkdtempSync(join(tmpdir(), 'edgectl-everyday-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * Runs a command class with --json as the CLI would, and returns the envelope it printed (stdout captured)
 * and the exit code it set or threw. process.exitCode is put back: a command's status is not the test's.
 */
async function json<T>(
  cmd: { run(argv: string[], root: string): Promise<unknown> },
  argv: string[],
): Promise<{ envelope: Envelope<T>; exitCode: number }> {
  let out = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out += String(chunk);
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  const before = process.exitCode;
  let exitCode = 0;
  try {
    await cmd.run([...argv, '--json'], ROOT);
    exitCode = Number(process.exitCode ?? 0);
  } catch (err) {
    exitCode = (err as { oclif?: { exit?: number } }).oclif?.exit ?? -1;
  } finally {
    vi.restoreAllMocks();
    process.exitCode = before;
  }
  return { envelope: JSON.parse(out) as Envelope<T>, exitCode };
}

afterEach(() => vi.restoreAllMocks());

describe('validate', () => {
  const corpus = readdirSync(BROKEN)
    .filter((n) => n.endsWith('.yml'))
    .sort();

  it.each(corpus)('lists every problem of broken/%s at once, exit 3', async (name) => {
    const file = join(BROKEN, name);
    const wanted = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('# expect: '));
    const { envelope, exitCode } = await json<{ valid: boolean; issues: { line: number; column: number }[] }>(
      Validate,
      [file],
    );
    expect(exitCode).toBe(ExitCode.inventory);
    expect(envelope.status).toBe(ExitCode.inventory);
    expect(envelope.result?.valid).toBe(false);
    // The same problems, in the same order, as the loader (whose corpus test checks each against the file).
    const loaded = await loadInventory(file).then(
      () => undefined,
      (err: unknown) => (err instanceof InventoryError ? err.issues : undefined),
    );
    expect(envelope.result?.issues).toEqual(loaded);
    expect(envelope.result?.issues).toHaveLength(wanted.length);
  });

  it.each(['hosts.yml', TEMPLATES.rack])(
    'finds %s valid, exit 0, and says what it describes',
    async (file) => {
      const { envelope, exitCode } = await json<{ valid: boolean; summary: { hosts: number } }>(Validate, [
        join(ROOT, file),
      ]);
      expect(exitCode).toBe(0);
      expect(envelope.result?.valid).toBe(true);
      expect(envelope.result?.summary.hosts).toBeGreaterThan(0);
    },
  );

  it('reports a missing file as such (exit 3, not "valid: false")', async () => {
    const { envelope, exitCode } = await json(Validate, [join(tmp, 'missing.yml')]);
    expect(exitCode).toBe(ExitCode.inventory);
    expect(envelope.error?.code).toBe('INVENTORY_NOT_FOUND');
  });

  it('prints one file:line:column: key: message line per problem without --json', async () => {
    const file = join(BROKEN, 'multiple-errors.yml');
    let out = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
      out += String(chunk);
      return true;
    });
    const before = process.exitCode;
    try {
      await Validate.run([file], ROOT);
    } finally {
      vi.restoreAllMocks();
      process.exitCode = before;
    }
    const v = await validateInventory(file);
    const lines = out.trimEnd().split('\n');
    expect(lines.slice(0, -1)).toEqual(
      v.issues.map((i) => `${i.file}:${i.line}:${i.column}: ${i.path ? `${i.path}: ` : ''}${i.message}`),
    );
    expect(lines.at(-1)).toContain(`${v.issues.length} problems`);
  });
});

describe('init', () => {
  it.each(['lab', 'rack'] as const)('writes the %s inventory, which validates as written', async (kind) => {
    const out = join(tmp, `${kind}.yml`);
    const { envelope, exitCode } = await json<{ file: string; schema: string }>(Init, [
      `--${kind}`,
      '--out',
      out,
    ]);
    expect(exitCode).toBe(0);
    expect(envelope.result?.file).toBe(out);
    expect((await validateInventory(out)).valid).toBe(true);
    // Its first line points editors at the schema the package ships, wherever the copy lives.
    const first = readFileSync(out, 'utf8').split('\n')[0] ?? '';
    expect(first).toBe(`# yaml-language-server: $schema=${join(ROOT, JSON_SCHEMA_PATH)}`);
    expect(existsSync(envelope.result?.schema ?? '')).toBe(true);
  });

  it('writes the lab inventory by default', async () => {
    const out = join(tmp, 'default.yml');
    await json(Init, ['--out', out]);
    const body = (f: string) => readFileSync(f, 'utf8').replace(SCHEMA_MODELINE_RE, '');
    expect(body(out)).toBe(body(join(ROOT, 'hosts.yml')));
  });

  it('never replaces an existing file without --force', async () => {
    const out = join(tmp, 'mine.yml');
    writeFileSync(out, 'testbed: mine\n');
    const refused = await json(Init, ['--out', out]);
    expect(refused.exitCode).toBe(ExitCode.usage);
    expect(refused.envelope.error?.message).toContain('already exists');
    expect(readFileSync(out, 'utf8')).toBe('testbed: mine\n');

    const forced = await json<{ replaced: boolean }>(Init, ['--rack', '--out', out, '--force']);
    expect(forced.exitCode).toBe(0);
    expect(forced.envelope.result?.replaced).toBe(true);
    expect((await validateInventory(out)).valid).toBe(true);
  });

  it('refuses --lab with --rack, and a directory as --out', async () => {
    expect((await json(Init, ['--lab', '--rack', '--out', join(tmp, 'x.yml')])).exitCode).toBe(
      ExitCode.usage,
    );
    expect(existsSync(join(tmp, 'x.yml'))).toBe(false);
    expect((await json(Init, ['--out', tmp])).exitCode).toBe(ExitCode.usage);
  });
});

describe('the JSON Schema for editors', () => {
  it(`${JSON_SCHEMA_PATH} is what the zod schema generates (npm run schema writes it)`, () => {
    expect(readFileSync(join(ROOT, JSON_SCHEMA_PATH), 'utf8')).toBe(inventoryJsonSchemaText());
  });

  it('covers every top-level key and forbids unknown ones, as the loader does', () => {
    const schema = JSON.parse(inventoryJsonSchemaText()) as {
      properties: Record<string, unknown>;
      additionalProperties: boolean;
      required: string[];
    };
    expect(Object.keys(schema.properties).sort()).toEqual(Object.keys(inventorySchema.shape).sort());
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(expect.arrayContaining(['testbed', 'hosts']));
  });

  it.each(['hosts.yml', TEMPLATES.rack])('%s points editors at it', (file) => {
    const line = readFileSync(join(ROOT, file), 'utf8').split('\n')[0] ?? '';
    const m = /^# yaml-language-server: \$schema=(.+)$/.exec(line);
    expect(m?.[1]).toBeDefined();
    expect(path.resolve(path.dirname(join(ROOT, file)), m?.[1] ?? '')).toBe(join(ROOT, JSON_SCHEMA_PATH));
  });
});

describe("the agent check run on a user's machine", () => {
  /** The check's script, run through a real sh with a pid file of the test's own. */
  async function check(pidFile: string): Promise<number | undefined> {
    const argv = agentStatusArgv('tb', 'mu1');
    expect(argv.at(-1)).toBe('/run/edgectl/mu/tb/mu1.pid');
    const r = await execa(argv[0] ?? 'sh', [...argv.slice(1, -1), pidFile], { reject: false });
    expect(r.exitCode).toBe(0);
    return parseAgentStatus(String(r.stdout));
  }

  it('finds a live `mu run` process and nothing else', async () => {
    // A stand-in with the agent's command line (`... mu run ...`); ended by its pid.
    const agent = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)', 'mu', 'run'], {
      stdio: 'ignore',
    });
    const pidFile = join(tmp, 'agent.pid');
    try {
      await new Promise((resolve) => agent.once('spawn', resolve));
      writeFileSync(pidFile, `${agent.pid}\n`);
      expect(await check(pidFile)).toBe(agent.pid);
      writeFileSync(pidFile, `${process.pid}\n`); // alive, but not an agent
      expect(await check(pidFile)).toBeUndefined();
      writeFileSync(pidFile, '12; rm -rf /\n');
      expect(await check(pidFile)).toBeUndefined();
      expect(await check(join(tmp, 'no-such.pid'))).toBeUndefined();
    } finally {
      if (agent.pid !== undefined && agent.exitCode === null) process.kill(agent.pid);
    }
  });
});

describe('status with hosts that refuse every connection', () => {
  const hosts = join(tmp, 'refusing.yml');
  beforeAll(() => {
    // Every host on its own loopback address, on a port nothing listens on: refused at once.
    const text = readFileSync(join(ROOT, TEMPLATES.rack), 'utf8')
      .replace(/198\.18\.0\.(\d+)/g, '127.0.9.$1')
      .replace('port: 22', 'port: 1')
      .replace(/identityFile: .*/, `identityFile: ${join(tmp, 'id_none')}`);
    writeFileSync(hosts, text);
    writeFileSync(join(tmp, 'id_none'), '');
  });

  it('reports each user with what could not be checked and why, exits 0, creates no state database', async () => {
    const state = join(tmp, 'status', 'state.db');
    const { envelope, exitCode } = await json<StatusResult>(Status, ['-f', hosts, '--state', state]);
    expect(exitCode).toBe(0);
    expect(existsSync(state)).toBe(false);
    const r = envelope.result;
    expect(r?.lab).toBeNull();
    expect(r?.state).toBeNull();
    expect(r?.users.map((u) => u.user)).toEqual(['mu1']);
    const u = r?.users[0];
    expect(u?.basestation).toBeNull();
    expect(u?.agent.running).toBeNull();
    expect(u?.container).toBeNull();
    expect(u?.errors.some((e) => e.startsWith('agent: '))).toBe(true);
    expect(u?.errors.some((e) => e.startsWith('base station: '))).toBe(true);
  });

  it("reads the placement from an existing database and marks the container's state unknown", async () => {
    const stateFile = join(tmp, 'status2', 'state.db');
    const db = openState(stateFile);
    db.placements.set({
      user: 'mu1',
      service: 'simple',
      host: 'edge1',
      container: 'edgectl.myrack.mu1',
      containerId: 'f'.repeat(64),
      address: '127.0.9.11',
      port: 20000,
      sinceMs: 1,
    });
    db.close();
    const { envelope, exitCode } = await json<StatusResult>(Status, ['-f', hosts, '--state', stateFile]);
    expect(exitCode).toBe(0);
    const u = envelope.result?.users[0];
    expect(envelope.result?.state).toBe(stateFile);
    expect(u?.server).toBe('edge1');
    expect(u?.container?.state).toBeNull();
    expect(u?.errors.some((e) => e.startsWith('container: '))).toBe(true);
  });

  it('refuses an unknown user before checking anything', async () => {
    const { exitCode, envelope } = await json(Status, ['-f', hosts, '--user', 'nobody']);
    expect(exitCode).toBe(ExitCode.usage);
    expect(envelope.error?.code).toBe('UNKNOWN_USER');
  });
});

describe("the split of docker's log stream", () => {
  const frame = (kind: number, text: string) => {
    const body = Buffer.from(text);
    const head = Buffer.alloc(8);
    head[0] = kind;
    head.writeUInt32BE(body.length, 4);
    return Buffer.concat([head, body]);
  };
  const modem = new Docker().modem;

  async function split(chunks: Buffer[], tty: boolean): Promise<string[]> {
    const source = new PassThrough();
    const got: string[] = [];
    splitLogStream(modem, source, tty, (c) => got.push(`${c.stream}:${c.data.toString()}`));
    for (const c of chunks) source.write(c);
    source.end();
    await new Promise((resolve) => source.once('end', resolve));
    return got.filter((g) => !g.endsWith(':'));
  }

  it('splits frames into stdout and stderr in order, whatever the chunking', async () => {
    const all = Buffer.concat([frame(1, 'hello\n'), frame(2, 'oops\n'), frame(1, ''), frame(1, 'bye\n')]);
    for (const size of [1, 3, 7, 8, 9, all.length]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size));
      expect(await split(chunks, false)).toEqual(['stdout:hello\n', 'stderr:oops\n', 'stdout:bye\n']);
    }
  });

  it('keeps an unfinished frame until the rest arrives', async () => {
    const f = frame(2, 'partial');
    expect(await split([f.subarray(0, 10), f.subarray(10)], false)).toEqual(['stderr:partial']);
  });

  it('passes the bytes of a TTY container on as they are', async () => {
    expect(await split([Buffer.from('raw '), Buffer.from('text')], true)).toEqual([
      'stdout:raw ',
      'stdout:text',
    ]);
  });
});
