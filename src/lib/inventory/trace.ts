/**
 * Trace files of `trajectory: { type: trace }`: a CSV with the header `time,user,x,y` (seconds from 0,
 * metres), rows of one user in non-decreasing time, rows of several users interleaved as they like (SUMO's
 * FCD output, converted, comes by time step). Read when hosts.yml is loaded, so that the points travel in
 * the model (to the agent and the plan input) and every mistake is found before anything runs; each
 * problem names the CSV's file, line and column. parseTraceCsv reads one file's text; readTraces reads
 * the files hosts.yml names, for the loader.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { PathSegment } from './checks.js';
import type { InventoryIssue } from './errors.js';
import type { TraceTrajectory } from './model.js';
import type { InventoryFile } from './schema.js';

/** One user's rows, in file order. */
export type TracePoint = { t: number; x: number; y: number };

export interface ParsedTrace {
  /** By user name, in the order the users first appear. */
  users: Map<string, TracePoint[]>;
  issues: InventoryIssue[];
}

/**
 * Rows per user at most. The points travel in the agent's spec, which goes to the user's machine on an
 * ssh command line, and Linux caps one argument at 128 KiB (MAX_ARG_STRLEN): 1500 rows of about 45 bytes
 * of JSON each leave room for the rest of the spec. A longer trace is thinned (positions are linear
 * between rows, so one row every few seconds loses little of a walk).
 */
export const MAX_TRACE_ROWS = 1500;

export const TRACE_COLUMNS = ['time', 'user', 'x', 'y'] as const;

/** Millimetres and milliseconds: finer than any radio model needs, and short in JSON. */
function round3(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** A number as CSV writes it: decimal or exponent notation, no empty field, no hex, no Infinity. */
const NUMBER_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Parses the text of a trace file; `file` names it in the issues. Blank lines are skipped; fields may be
 * padded with spaces; a header in any column order is accepted as long as it has exactly these four names.
 */
export function parseTraceCsv(text: string, file: string): ParsedTrace {
  const issues: InventoryIssue[] = [];
  const users = new Map<string, TracePoint[]>();
  const lastLine = new Map<string, number>();
  const issue = (line: number, column: number, message: string) =>
    issues.push({ file, line, column, path: '', message });

  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  let headerAt = lines.findIndex((l) => l.trim() !== '');
  if (headerAt < 0) {
    issue(1, 1, `expected a header ${TRACE_COLUMNS.join(',')} and rows, got an empty file`);
    return { users, issues };
  }
  const header = (lines[headerAt] as string).split(',').map((h) => h.trim().toLowerCase());
  const index = TRACE_COLUMNS.map((c) => header.indexOf(c));
  if (header.length !== TRACE_COLUMNS.length || index.some((i) => i < 0)) {
    issue(
      headerAt + 1,
      1,
      `expected the header ${TRACE_COLUMNS.join(',')} (columns in any order), got ${JSON.stringify(lines[headerAt]?.trim())}`,
    );
    return { users, issues };
  }
  const [ti, ui, xi, yi] = index as [number, number, number, number];
  headerAt += 1;

  let rows = 0;
  for (let n = headerAt; n < lines.length; n++) {
    const raw = lines[n] as string;
    if (raw.trim() === '') continue;
    rows += 1;
    const lineNo = n + 1;
    const fields = raw.split(',');
    // The 1-based column where each field starts, to point at the bad one.
    const columns: number[] = [];
    let col = 1;
    for (const f of fields) {
      columns.push(col);
      col += f.length + 1;
    }
    if (fields.length !== TRACE_COLUMNS.length) {
      issue(lineNo, 1, `expected 4 fields (${header.join(',')}), got ${fields.length}`);
      continue;
    }
    const num = (i: number, what: string, min?: number): number | undefined => {
      const s = (fields[i] as string).trim();
      const v = Number(s);
      if (!NUMBER_RE.test(s) || !Number.isFinite(v) || (min !== undefined && v < min)) {
        issue(
          lineNo,
          columns[i] as number,
          `${header[i]}: expected ${what}, got ${s === '' ? 'an empty field' : JSON.stringify(s)}`,
        );
        return undefined;
      }
      return v;
    };
    const t = num(ti, 'a time in seconds, a number >= 0', 0);
    const x = num(xi, 'x in metres, a number');
    const y = num(yi, 'y in metres, a number');
    const user = (fields[ui] as string).trim();
    if (user === '') issue(lineNo, columns[ui] as number, 'user: expected a user name, got an empty field');
    if (t === undefined || x === undefined || y === undefined || user === '') continue;
    const points = users.get(user) ?? [];
    const prev = points[points.length - 1];
    if (prev !== undefined && t < prev.t) {
      issue(
        lineNo,
        columns[ti] as number,
        `time: expected a time >= ${prev.t} (line ${lastLine.get(user)}: the rows of user ${JSON.stringify(user)} go forward in time), got ${t}`,
      );
      continue;
    }
    if (points.length === MAX_TRACE_ROWS) {
      issue(
        lineNo,
        1,
        `expected at most ${MAX_TRACE_ROWS} rows for user ${JSON.stringify(user)} (thin the trace: positions are linear between rows)`,
      );
    }
    points.push({ t: round3(t), x: round3(x), y: round3(y) });
    users.set(user, points);
    lastLine.set(user, lineNo);
  }
  if (rows === 0 && issues.length === 0) {
    issue(headerAt, 1, 'expected rows after the header, got none');
  }
  return { users, issues };
}

/**
 * The points of every trace trajectory, each CSV read once however many users replay it. Problems inside a
 * CSV name the CSV's file and line; a file that cannot be read, or a user it lacks, is reported at the
 * trajectory in hosts.yml (`segments`, located by the caller).
 */
export function readTraces(
  data: InventoryFile,
  hostsFile: string,
  dir: string,
): {
  trajectories: Map<number, TraceTrajectory>;
  issues: (InventoryIssue | { segments: PathSegment[]; message: string })[];
} {
  const trajectories = new Map<number, TraceTrajectory>();
  const issues: (InventoryIssue | { segments: PathSegment[]; message: string })[] = [];
  const files = new Map<string, ParsedTrace | null>();
  data.users.forEach((u, i) => {
    const t = u.trajectory;
    if (t.type !== 'trace') return;
    const absolute = path.resolve(dir, t.file);
    // Named as the user would find it: beside hosts.yml as the hosts file was named.
    const shown = path.isAbsolute(t.file) ? t.file : path.join(path.dirname(hostsFile), t.file);
    let parsed = files.get(absolute);
    if (parsed === undefined) {
      try {
        parsed = parseTraceCsv(readFileSync(absolute, 'utf8'), shown);
        issues.push(...parsed.issues);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        issues.push({
          segments: ['users', i, 'trajectory', 'file'],
          message: `expected a readable trace file (CSV time,user,x,y), got ${JSON.stringify(t.file)}: ${code === 'ENOENT' ? `${absolute} not found` : (code ?? String(err))}`,
        });
        parsed = null;
      }
      files.set(absolute, parsed);
    }
    if (parsed === null || parsed.issues.length > 0) return;
    const user = t.user ?? u.name;
    const points = parsed.users.get(user);
    if (points === undefined) {
      const known = [...parsed.users.keys()];
      const listed = known.length <= 10 ? known.join(', ') : `${known.slice(0, 10).join(', ')}, ...`;
      issues.push({
        file: shown,
        line: 1,
        column: 1,
        path: '',
        message: `expected rows of user ${JSON.stringify(user)} (users[${i}].trajectory of ${hostsFile}), got none (users in the file: ${listed})`,
      });
      return;
    }
    trajectories.set(i, { type: 'trace', file: absolute, user, loop: t.loop, points });
  });
  return { trajectories, issues };
}
