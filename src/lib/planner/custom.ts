/**
 * Outside planners: a researcher's own placement policy, run by edgectl in place of the built-in ones. It
 * gets the plan input (the same document `plan --save-input` writes) and answers with decisions: for each
 * user it wants to move, a base station and a server, and optionally when to start the moves. Two forms:
 * a program (`exec`: the request as JSON on its standard input, the answer as JSON on its standard output;
 * exec.ts runs it) and, for a library user, a function. Every answer is checked against the placement
 * problem's constraints (check.ts) before anything is carried out: a planner from outside is not trusted.
 */

import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { EdgectlError, type EdgectlErrorOptions, ExitCode, UsageError } from '../errors.js';
import { planInputSchema } from './input.js';
import { PLANNERS, type PlannerName } from './plan.js';

/** The request's version: a planner may refuse one it does not know. */
export const PLANNER_REQUEST_VERSION = 1;
/** The time limit of one call when none is given (ms): a plan is asked for every second in an experiment. */
export const DEFAULT_PLANNER_TIMEOUT_MS = 2000;
/** An outside planner's name when none is given (`--planner exec:COMMAND`). */
export const DEFAULT_EXEC_NAME = 'exec';

export const plannerRequestSchema = z.object({
  v: z.literal(PLANNER_REQUEST_VERSION),
  /** The plan's instant (epoch ms on the controller's clock): trigger times are on the same clock. */
  nowMs: z.number(),
  input: planInputSchema,
});
export type PlannerRequest = z.infer<typeof plannerRequestSchema>;

/** A trigger time: epoch ms; null or absent: edgectl's own timing for that step. */
const instant = z.number().nullable().optional();

export const plannerAnswerSchema = z
  .object({
    decisions: z.array(
      z
        .object({
          user: z.string(),
          bs: z.string(),
          server: z.string(),
          triggers: z
            .object({ preMigrationAt: instant, migrationAt: instant, handoverAt: instant })
            .strict()
            .nullable()
            .optional(),
        })
        .strict(),
    ),
  })
  .strict();
export type PlannerAnswer = z.input<typeof plannerAnswerSchema>;
export type PlannerDecision = PlannerAnswer['decisions'][number];

/** A planner written as a function (library use): the same request and answer as a program's. */
export type PlannerFunction = (request: PlannerRequest) => PlannerAnswer | Promise<PlannerAnswer>;

export interface ExecPlannerSpec {
  name: string;
  /** The program and its arguments (no shell runs them). */
  exec: string[];
  timeoutMs?: number;
}
export interface FunctionPlannerSpec {
  name: string;
  fn: PlannerFunction;
  timeoutMs?: number;
}
export type OutsidePlannerSpec = ExecPlannerSpec | FunctionPlannerSpec;
export type PlannerSpec = PlannerName | OutsidePlannerSpec;

export function isOutside(spec: PlannerSpec): spec is OutsidePlannerSpec {
  return typeof spec === 'object' && spec !== null;
}

export function plannerName(spec: PlannerSpec): string {
  return isOutside(spec) ? spec.name : spec;
}

/** An outside planner failed: it could not start, timed out, crashed, or its answer was unreadable or broke a constraint. */
export class PlannerError extends EdgectlError {
  constructor(
    readonly planner: string,
    readonly reason: 'start' | 'timeout' | 'crash' | 'output' | 'answer' | 'constraint',
    message: string,
    options: EdgectlErrorOptions = {},
  ) {
    super('PLANNER', ExitCode.planner, `planner ${planner}: ${message}`, {
      hint: 'docs/guide/planners.md describes what a planner reads and must answer',
      ...options,
      details: { planner, reason, ...((options.details as object | undefined) ?? {}) },
    });
  }
}

const NAME = /^[a-z][a-z0-9-]{0,30}$/;

/** Checks an outside planner's name: lower-case letters, digits and "-", a letter first, at most 31, not a built-in's. */
export function checkPlannerName(name: string): void {
  if (!NAME.test(name))
    throw new UsageError(`bad planner name ${JSON.stringify(name)}`, {
      hint: 'lower-case letters, digits and "-", starting with a letter, at most 31 characters',
    });
  if ((PLANNERS as readonly string[]).includes(name) || name === 'all')
    throw new UsageError(`planner name ${name} is a built-in planner's`, {
      hint: 'give the outside planner another name: NAME=exec:COMMAND',
    });
}

/**
 * Splits a command into argv the way a POSIX shell would, without running one: words split on blanks,
 * 'single quotes' literal, "double quotes" with \" \\ \$ \` escapes, a backslash outside quotes escaping
 * the next character. Nothing is expanded ($VAR, *, ~ stay as written).
 */
export function splitCommand(command: string): string[] {
  const out: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;
  const n = command.length;
  while (i < n) {
    const c = command[i] as string;
    if (c === ' ' || c === '\t' || c === '\n') {
      if (inWord) out.push(word);
      word = '';
      inWord = false;
      i++;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      if (end < 0) throw new UsageError(`unterminated ' in ${JSON.stringify(command)}`);
      word += command.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (c === '"') {
      i++;
      inWord = true;
      for (;;) {
        if (i >= n) throw new UsageError(`unterminated " in ${JSON.stringify(command)}`);
        const d = command[i] as string;
        if (d === '"') break;
        const next = command[i + 1];
        if (d === '\\' && next !== undefined && '"\\$`'.includes(next)) {
          word += next;
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      i++;
    } else if (c === '\\') {
      if (i + 1 >= n) throw new UsageError(`a trailing \\ in ${JSON.stringify(command)}`);
      word += command[i + 1];
      inWord = true;
      i += 2;
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) out.push(word);
  return out;
}

/**
 * The argv with relative paths made absolute against `cwd`: the program when it names a path (has a "/"),
 * and any later argument that is an existing file. So an experiment resumed from elsewhere runs the same
 * program, and meta.json records which.
 */
export function absoluteArgv(argv: readonly string[], cwd = process.cwd()): string[] {
  return argv.map((a, i) => {
    if (a.startsWith('/') || a.startsWith('-')) return a;
    if (i === 0) return a.includes('/') ? resolve(cwd, a) : a;
    const p = resolve(cwd, a);
    try {
      return existsSync(p) && statSync(p).isFile() ? p : a;
    } catch {
      return a;
    }
  });
}

/**
 * Parses a `--planner` value: a built-in name, `exec:COMMAND` or `NAME=exec:COMMAND`. Anything else is
 * returned as a (possibly unknown) name for the caller to judge.
 */
export function parsePlannerSpec(
  value: string,
  options: { timeoutMs?: number; cwd?: string } = {},
): PlannerSpec {
  const v = value.trim();
  const m = /^(?:([^=\s:]*)=)?exec:(.*)$/s.exec(v);
  if (!m) {
    if (v.includes('=')) {
      const [name] = v.split('=');
      checkPlannerName(name ?? '');
      throw new UsageError(`--planner ${v}: an outside planner is NAME=exec:COMMAND`);
    }
    if (!(PLANNERS as readonly string[]).includes(v))
      throw new UsageError(`unknown planner ${v}`, {
        hint: `one of ${PLANNERS.join(', ')}, or exec:COMMAND, or NAME=exec:COMMAND`,
      });
    return v as PlannerName;
  }
  const name = m[1] ?? DEFAULT_EXEC_NAME;
  checkPlannerName(name);
  const argv = splitCommand(m[2] ?? '');
  if (argv.length === 0) throw new UsageError(`--planner ${v}: no command after exec:`);
  return {
    name,
    exec: absoluteArgv(argv, options.cwd),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };
}

/** The paper's four, in its figures' order: what `--planner all` stands for. */
export const ALL_PLANNERS: readonly PlannerName[] = ['cloud', 'random', 'nearest', 'orchestrated'];

/**
 * The planners of repeated or comma-separated `--planner` values, `all` expanded: a value holding `exec:` is
 * one outside planner and is not split (its command may hold commas).
 */
export function plannerValues(values: readonly string[]): string[] {
  return values
    .flatMap((v) => (v.includes('exec:') ? [v.trim()] : v.split(',').map((x) => x.trim())))
    .filter(Boolean)
    .flatMap((v) => (v === 'all' ? [...ALL_PLANNERS] : [v]));
}

/** Parses every `--planner` value; an outside planner's name must be unique (it names its runs and results). */
export function parsePlannerSpecs(
  values: readonly string[],
  options: { timeoutMs?: number; cwd?: string } = {},
): PlannerSpec[] {
  const specs: PlannerSpec[] = [];
  const seen = new Map<string, PlannerSpec>();
  for (const value of values) {
    const spec = parsePlannerSpec(value, options);
    const name = plannerName(spec);
    const before = seen.get(name);
    if (before !== undefined) {
      // The same built-in twice is the same planner: once. Two outside planners of one name are not.
      if (!isOutside(spec) && !isOutside(before)) continue;
      throw new UsageError(`two planners named ${name}`, {
        hint: 'name each outside planner: NAME=exec:COMMAND',
      });
    }
    seen.set(name, spec);
    specs.push(spec);
  }
  return specs;
}
