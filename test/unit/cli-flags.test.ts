/**
 * The CLI's flags, read from the command classes themselves: every duration flag (found by name and
 * wording, so a new one cannot slip past the builder) takes the inventory's units and a bare number in its
 * own unit, and refuses anything else with a usage error (exit 2); the old flag names still parse.
 */
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, Parser } from '@oclif/core';
import { describe, expect, it } from 'vitest';
import { DURATION_FLAG, type DurationUnit, parseDurationFlag } from '../../src/lib/cli/flags.js';
import { EdgectlError, ExitCode } from '../../src/lib/errors.js';
import { parseDuration } from '../../src/lib/inventory/units.js';
import { parsePlannerSpecs, plannerValues } from '../../src/lib/planner/custom.js';

const commandsDir = fileURLToPath(new URL('../../src/commands', import.meta.url));

function commandFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? commandFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

type AnyFlag = Record<string | symbol, unknown> & {
  name?: string;
  summary?: string;
  aliases?: string[];
  parse?: (input: string, ctx: unknown, opts: unknown) => Promise<unknown>;
};

const commands = await Promise.all(
  commandFiles(commandsDir)
    .sort()
    .map(async (file) => ({
      id: relative(commandsDir, file).replace(/\.ts$/, '').split('/').join(' '),
      cmd: (await import(file)).default as typeof Command & { baseFlags?: Record<string, AnyFlag> },
    })),
);

const allFlags = commands.flatMap(({ id, cmd }) =>
  Object.entries({ ...cmd.baseFlags, ...cmd.flags } as Record<string, AnyFlag>).map(([name, flag]) => ({
    id,
    name,
    flag,
    unit: flag[DURATION_FLAG] as DurationUnit | undefined,
  })),
);
const durations = allFlags.filter((f) => f.unit !== undefined);

/** What looks like a duration: by its name or by its wording. */
const LOOKS_LIKE_DURATION =
  /(-ms$|timeout|interval|duration|delay|window|budget|blackout|^before$|time-limit)|\b(seconds?|milliseconds?|in ms|in s|how long|this long)\b/i;

describe('duration flags', () => {
  it('every flag that reads as a duration is built by durationFlag', () => {
    const suspects = allFlags.filter(
      // A flag of named choices (provision --latency: netem or edgectl-delay) is no duration.
      (f) =>
        f.unit === undefined &&
        f.flag['options'] === undefined &&
        LOOKS_LIKE_DURATION.test(`${f.name} ${f.flag.summary ?? ''}`),
    );
    expect(suspects.map((f) => `${f.id} --${f.name}`)).toEqual([]);
    // The ones this test knows about, so that losing one is seen too.
    expect(durations.map((f) => `${f.id} --${f.name} (${f.unit})`)).toEqual(
      expect.arrayContaining([
        'handover --blackout (ms)',
        'migrate --downtime-budget (s)',
        'monitor --duration (s)',
        'monitor --interval (s)',
        'monitor --window (s)',
        'offload --timeout (ms)',
        'plan --window (s)',
        'plan --time-limit (ms)',
        'experiment run --duration (s)',
        'experiment report --window (s)',
        'experiment report --before (s)',
        'lab up --session-delay (ms)',
        'mu handover --blackout (ms)',
        'mu run --blackout (ms)',
        'mu run --duration (s)',
        'mu offload --timeout (ms)',
        'mu offload --interval (ms)',
        'mu probe --interval (ms)',
        'mu probe --attempt-timeout (ms)',
        'mu probe --timeout (ms)',
      ]),
    );
  });

  it.each(durations.map((f) => [`${f.id} --${f.name}`, f] as const))(
    '%s takes 30s, 30000ms, 30000000us, decimals and a bare number in its unit',
    async (_label, f) => {
      const parse = async (v: string) => {
        if (!f.flag.parse) throw new Error(`${f.name} has no parser`);
        return f.flag.parse(v, {}, f.flag);
      };
      const bare = f.unit === 's' ? '30' : '30000';
      for (const v of ['30s', '30000ms', '30000000us', '29.5s', ' 30s ', bare]) {
        const expected = v === '29.5s' ? 29_500 : 30_000;
        expect(await parse(v), v).toBe(expected);
      }
      // The summary names the bare number's unit.
      expect(f.flag.summary).toContain(`(default unit: ${f.unit})`);
      for (const bad of ['fast', '5 minutes', '-1s', '1m', '']) {
        const err = await parse(bad).catch((e: unknown) => e);
        expect(err, bad).toBeInstanceOf(EdgectlError);
        expect((err as EdgectlError).exitCode).toBe(ExitCode.usage);
        expect((err as EdgectlError).message).toMatch(/expected a duration such as 500ms, 2s or 1\.5s/);
      }
    },
  );

  it('reads the units with the inventory’s parser: the same value for the same text', () => {
    for (const t of ['50ms', '0.5s', '150us', '2s', '0ms'])
      expect(parseDurationFlag(t, 'ms')).toBe(parseDuration(t));
    expect(parseDurationFlag('2', 's')).toBe(2000);
    expect(parseDurationFlag('2', 'ms')).toBe(2);
    expect(parseDurationFlag('1.5', 's')).toBe(1500);
  });

  it('refuses values out of bounds and fractions of a millisecond, naming the bound', async () => {
    const handover = durations.find((f) => f.id === 'handover' && f.name === 'blackout');
    const err = await handover?.flag.parse?.('61s', {}, handover.flag).catch((e: unknown) => e);
    expect((err as EdgectlError).message).toMatch(/at most 60000ms/);
    const frac = await handover?.flag.parse?.('150us', {}, handover.flag).catch((e: unknown) => e);
    expect((frac as EdgectlError).message).toMatch(/whole milliseconds/);
  });
});

/** Old name -> new name: what docs/guide/scripting.md and the CHANGELOG list. */
const ALIASES: [command: string, old: string, now: string, value: string, ms: number][] = [
  ['handover', 'blackout-ms', 'blackout', '50', 50],
  ['mu handover', 'blackout-ms', 'blackout', '50', 50],
  ['mu run', 'blackout-ms', 'blackout', '50', 50],
  ['offload', 'timeout-ms', 'timeout', '2500', 2500],
  ['mu offload', 'timeout-ms', 'timeout', '2500', 2500],
  ['mu offload', 'interval-ms', 'interval', '20', 20],
  ['mu probe', 'interval-ms', 'interval', '20', 20],
  ['mu probe', 'attempt-timeout-ms', 'attempt-timeout', '300', 300],
  ['mu probe', 'timeout-ms', 'timeout', '120000', 120_000],
  ['plan', 'time-limit-ms', 'time-limit', '500', 500],
];

describe('old flag names', () => {
  it.each(ALIASES)('%s --%s still parses, as --%s', async (id, old, now, value, ms) => {
    const cmd = commands.find((c) => c.id === id)?.cmd;
    expect(cmd).toBeDefined();
    const flags = (cmd as typeof Command).flags;
    expect(flags[now]?.aliases).toContain(old);
    const required = Object.entries(flags)
      .filter(([name, f]) => f.required && name !== now)
      .flatMap(([name]) => [`--${name}`, name === 'port' ? '1' : '{}']);
    const parsed = await Parser.parse([`--${old}`, value, ...required], { flags, strict: true });
    expect(parsed.flags[now]).toBe(ms);
    // The new name, with a unit.
    const again = await Parser.parse([`--${now}`, `${ms}ms`, ...required], { flags, strict: true });
    expect(again.flags[now]).toBe(ms);
  });

  it('experiment run: --planner and --service repeat, the comma-separated form still works, the planners are checked', async () => {
    const cmd = commands.find((c) => c.id === 'experiment run')?.cmd as typeof Command;
    const p = (argv: string[]) => Parser.parse(argv, { flags: cmd.flags, strict: true });
    // --planner is split in the command (plannerValues): a value holding exec: keeps its commas.
    const planners = async (argv: string[]) =>
      parsePlannerSpecs(plannerValues((await p(argv)).flags['planner'] as string[]));
    expect(await planners(['--planner', 'nearest,orchestrated'])).toEqual(['nearest', 'orchestrated']);
    expect(await planners(['--planner', 'nearest', '--planner', 'cloud'])).toEqual(['nearest', 'cloud']);
    expect(await planners([])).toEqual(['cloud', 'random', 'nearest', 'orchestrated']);
    expect(await planners(['--planner', 'nearest', '--planner', 'g=exec:/bin/planner --w a,b'])).toEqual([
      'nearest',
      { name: 'g', exec: ['/bin/planner', '--w', 'a,b'] },
    ]);
    await expect(planners(['--planner', 'nearest,best'])).rejects.toThrow(/unknown planner best/);
    expect((await p(['--service', 'simple,compute', '--service', 'web'])).flags['service']).toEqual([
      'simple',
      'compute',
      'web',
    ]);
  });
});
