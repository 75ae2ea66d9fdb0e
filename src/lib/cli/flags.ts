/**
 * Flag builders shared by the commands, so that one concept reads and parses the same everywhere.
 */
import { Flags, type Interfaces } from '@oclif/core';
import { UsageError } from '../errors.js';
import { parseDuration } from '../inventory/units.js';

/** The unit a bare number means: each duration flag keeps the one it had before units were accepted. */
export type DurationUnit = 'ms' | 's';

const BARE_NUMBER = /^[0-9]+(?:\.[0-9]+)?$/;

/**
 * Parses a duration flag's value into milliseconds with the inventory's own parser (hosts.yml's `50ms`,
 * `0.5s`, `150us`); a bare number is in `unit`. Throws a UsageError (exit 2) naming the flag otherwise.
 */
export function parseDurationFlag(text: string, unit: DurationUnit): number {
  const trimmed = text.trim();
  const ms = parseDuration(BARE_NUMBER.test(trimmed) ? `${trimmed}${unit}` : trimmed);
  if (ms === undefined)
    throw new UsageError(
      `expected a duration such as 500ms, 2s or 1.5s (units: us, ms, s; a bare number is ${unit}), got ${JSON.stringify(text)}`,
    );
  return ms;
}

/** `60_000` ms in the flag's unit for help and messages: "60s", "500ms". */
export function formatDuration(ms: number, unit: DurationUnit): string {
  return unit === 's' ? `${ms / 1000}s` : `${ms}ms`;
}

export interface DurationFlagOptions {
  summary: string;
  description?: string;
  /** The unit of a bare number: what the flag took before units were accepted. */
  unit: DurationUnit;
  /** The default, in ms. */
  defaultMs?: number;
  /** Bounds, in ms (inclusive). */
  minMs?: number;
  maxMs?: number;
  required?: boolean;
  env?: string;
  /** Earlier names still accepted (scripts keep working); listed in docs/guide/scripting.md. */
  aliases?: string[];
  exclusive?: string[];
  helpGroup?: string;
}

/** Marks the flags this builder made, so a test can find every duration flag of every command. */
export const DURATION_FLAG = Symbol.for('edgectl.durationFlag');

/**
 * A duration flag: accepts `500ms`, `2s`, `1.5s`, `2000us` or a bare number in the flag's unit, and gives
 * whole milliseconds. The help names the bare number's unit ("default unit: s").
 */
export function durationFlag(
  o: DurationFlagOptions & ({ defaultMs: number } | { required: true }),
): Interfaces.OptionFlag<number>;
export function durationFlag(o: DurationFlagOptions): Interfaces.OptionFlag<number | undefined>;
export function durationFlag(o: DurationFlagOptions): Interfaces.OptionFlag<number | undefined> {
  const bounds = [
    o.minMs === undefined ? '' : `at least ${formatDuration(o.minMs, o.unit)}`,
    o.maxMs === undefined ? '' : `at most ${formatDuration(o.maxMs, o.unit)}`,
  ].filter(Boolean);
  const options = {
    summary: `${o.summary} (default unit: ${o.unit})`,
    ...(o.description ? { description: o.description } : {}),
    helpValue: `<duration>`,
    ...(o.defaultMs === undefined
      ? {}
      : { default: o.defaultMs, defaultHelp: async () => formatDuration(o.defaultMs ?? 0, o.unit) }),
    ...(o.required ? { required: true } : {}),
    ...(o.env ? { env: o.env } : {}),
    ...(o.aliases ? { aliases: o.aliases } : {}),
    ...(o.exclusive ? { exclusive: o.exclusive } : {}),
    ...(o.helpGroup ? { helpGroup: o.helpGroup } : {}),
    // oclif prefixes the message with the flag's name ("Parsing --blackout").
    parse: async (input: string) => {
      const ms = parseDurationFlag(input, o.unit);
      // Every consumer counts whole milliseconds (timers, the agent spec's integers, argv sent to hosts).
      if (!Number.isInteger(ms)) throw new UsageError(`expected whole milliseconds, got ${input} (${ms} ms)`);
      if ((o.minMs !== undefined && ms < o.minMs) || (o.maxMs !== undefined && ms > o.maxMs))
        throw new UsageError(`expected ${bounds.join(' and ')}, got ${input}`);
      return ms;
    },
  };
  // One options object for all four shapes (required or not, default or not): oclif's overloads want
  // each spelled out.
  const flag = Flags.custom<number>(options as never)();
  return Object.assign(flag, { [DURATION_FLAG]: o.unit }) as Interfaces.OptionFlag<number | undefined>;
}
