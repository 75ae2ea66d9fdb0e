/**
 * Loading hosts.yml: YAML with positions (a LineCounter), the strict schema, the cross-reference
 * checks, then the resolved model. Every problem found is reported, each as
 * `hosts.yml:14:5: links[2].latency: expected a duration ..., got "fast"`.
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { distance } from 'fastest-levenshtein';
import { type Document, isAlias, isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { InternalError } from '../errors.js';
import { type CheckIssue, crossCheck, formatPath, type PathSegment } from './checks.js';
import { InventoryError, type InventoryIssue, InventoryNotFoundError } from './errors.js';
import {
  DEFAULT_USER_PORT_BASE,
  defaultOffload,
  type Host,
  type Inventory,
  parseOffload,
  parseProbe,
  type Service,
  type SourcePos,
  type SshSettings,
  type TraceTrajectory,
  type Trajectory,
} from './model.js';
import { defaultUserAddress, radioAddressing } from './net.js';
import { type InventoryFile, inventorySchema, SAMPLE_FRAMES } from './schema.js';
import { resolveSsh, type SshResolveOptions } from './ssh.js';
import { readTraces } from './trace.js';
import { parseBandwidth, parseDuration } from './units.js';

/** The hosts file when neither --hosts/-f nor EDGECTL_HOSTS says otherwise. */
export const DEFAULT_HOSTS_FILE = 'hosts.yml';

/** The hosts file to use: the --hosts/-f flag, else $EDGECTL_HOSTS, else ./hosts.yml. */
export function hostsFileFrom(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return flag;
  const fromEnv = env['EDGECTL_HOSTS'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : DEFAULT_HOSTS_FILE;
}

export interface ParseInventoryOptions {
  /** Directory that a relative `file` is relative to (default: process.cwd()). */
  cwd?: string;
  /** How the ssh config file is found and read (default: ~/.ssh/config or $EDGECTL_SSH_CONFIG). */
  ssh?: SshResolveOptions;
}

/** Reads and validates a hosts file. Throws InventoryNotFoundError or InventoryError (exit code 3). */
export async function loadInventory(file: string, options: ParseInventoryOptions = {}): Promise<Inventory> {
  const resolved = path.resolve(options.cwd ?? process.cwd(), file);
  let text: string;
  try {
    text = await readFile(resolved, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT' || code === 'ENOTDIR'
        ? 'not found'
        : code === 'EISDIR'
          ? 'is a directory'
          : code === 'EACCES' || code === 'EPERM'
            ? 'is not readable'
            : `could not be read (${code ?? String(err)})`;
    throw new InventoryNotFoundError(file, resolved, { cause: err, reason });
  }
  return parseInventory(text, file, options);
}

/** Validates the text of a hosts file; `file` names it in messages and anchors relative paths. */
export function parseInventory(text: string, file: string, options: ParseInventoryOptions = {}): Inventory {
  const absolute = path.resolve(options.cwd ?? process.cwd(), file);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, merge: true, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number): SourcePos => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const issueAt = (offset: number, segments: PathSegment[], message: string): InventoryIssue => ({
    file,
    ...at(offset),
    path: formatPath(segments),
    message,
  });

  if (doc.errors.length > 0) {
    // One error per line: the parser often reports a cascade of follow-on errors for one mistake.
    const issues = sortIssues(
      doc.errors.map((err) => issueAt(err.pos[0], [], `invalid YAML: ${firstLine(err.message)}`)),
    );
    throw new InventoryError(
      file,
      issues.filter((issue, i) => issues[i - 1]?.line !== issue.line),
    );
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new InventoryError(file, [issueAt(0, [], `invalid YAML: ${firstLine(String(err))}`)]);
  }

  const parsed = inventorySchema.safeParse(data, { error: fallbackExpectation });
  if (!parsed.success) {
    const issues = parsed.error.issues.flatMap((issue) => describeZodIssue(issue, data));
    throw new InventoryError(
      file,
      sortIssues(issues.map((i) => issueAt(locate(doc, i.path, i.target), i.path, i.message))),
    );
  }

  const where = (segments: PathSegment[]) => `line ${at(locate(doc, segments, 'value')).line}`;
  const problems: CheckIssue[] = crossCheck(parsed.data, where);
  if (problems.length > 0) {
    throw new InventoryError(
      file,
      sortIssues(problems.map((p) => issueAt(locate(doc, p.path, 'value'), p.path, p.message))),
    );
  }

  const ssh = resolveSsh(parsed.data, path.dirname(absolute), options.ssh);
  if (ssh.issues.length > 0) {
    throw new InventoryError(
      file,
      sortIssues(ssh.issues.map((p) => issueAt(locate(doc, p.path, 'value'), p.path, p.message))),
    );
  }

  const traces = readTraces(parsed.data, file, path.dirname(absolute));
  if (traces.issues.length > 0) {
    throw new InventoryError(
      file,
      traces.issues.map((p) =>
        'segments' in p ? issueAt(locate(doc, p.segments, 'value'), p.segments, p.message) : p,
      ),
    );
  }

  const inventory = buildInventory(parsed.data, ssh.settings, traces.trajectories, {
    file,
    path: absolute,
    dir: path.dirname(absolute),
    at: (segments) => at(locate(doc, segments, 'value')),
  });
  if (ssh.warnings.length > 0) inventory.warnings = ssh.warnings;
  return inventory;
}

interface Located {
  path: PathSegment[];
  target: 'key' | 'value';
  message: string;
}

function firstLine(message: string): string {
  return (message.split('\n')[0] ?? message).trim();
}

function sortIssues(issues: InventoryIssue[]): InventoryIssue[] {
  const seen = new Set<string>();
  return issues
    .filter((issue) => {
      const key = `${issue.line}:${issue.column}:${issue.path}:${issue.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.column - b.column || a.path.localeCompare(b.path));
}

/** The "expected" half for issues the schema did not word itself. */
function fallbackExpectation(issue: z.core.$ZodRawIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'array'
        ? 'a list'
        : issue.expected === 'object'
          ? 'a mapping'
          : `a value of type ${issue.expected}`;
    case 'invalid_value':
      return `one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return '';
    default:
      return 'a valid value';
  }
}

function toSegments(segments: readonly PropertyKey[]): PathSegment[] {
  return segments.map((s) => (typeof s === 'number' ? s : String(s)));
}

function describeZodIssue(issue: z.core.$ZodIssue, data: unknown): Located[] {
  const base = toSegments(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = issue.message.split(', ').filter((k) => k !== '');
      return issue.keys.map((key) => {
        const guess = closest(key, allowed);
        const expected = allowed.length === 0 ? 'no keys here' : `one of the keys ${allowed.join(', ')}`;
        return {
          path: [...base, key],
          target: 'key' as const,
          message: `expected ${expected}, got unknown key ${JSON.stringify(key)}${guess ? ` (did you mean "${guess}"?)` : ''}`,
        };
      });
    }
    case 'invalid_key': {
      const key = base[base.length - 1];
      const expected = issue.issues[0]?.message ?? issue.message;
      return [
        { path: base, target: 'key', message: `expected ${expected}, got ${JSON.stringify(String(key))}` },
      ];
    }
    default: {
      const value = valueAt(data, base);
      const stated =
        issue.code === 'custom' ? (issue.params as { found?: unknown } | undefined)?.found : undefined;
      const found =
        typeof stated === 'string'
          ? stated
          : base.length === 0 && value == null
            ? 'an empty document'
            : describeValue(value);
      return [{ path: base, target: 'value', message: `expected ${issue.message}, got ${found}` }];
    }
  }
}

function valueAt(data: unknown, segments: readonly PathSegment[]): unknown {
  let value = data;
  for (const segment of segments) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return value;
}

/** What was found, for "got ...": quoted and escaped strings, short lists shown, mappings named. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (the key is missing)';
  if (value === null) return 'an empty value';
  if (typeof value === 'string') {
    const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
    return value === '' ? 'an empty string' : shown;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const json = safeJson(value);
    if (json !== undefined && json.length <= 40) return json.replaceAll(',', ', ');
    return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  }
  if (typeof value === 'object') return 'a mapping';
  return `a value of type ${typeof value}`;
}

function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

/** The allowed key nearest to a mistyped one (edit distance <= 2, or a case-only difference). */
function closest(key: string, allowed: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of allowed) {
    const d = candidate.toLowerCase() === key.toLowerCase() ? 0 : distance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function start(node: unknown): number | undefined {
  return isNode(node) ? (node.range?.[0] ?? undefined) : undefined;
}

/**
 * Source offset of the node at `segments`: the value (or, with target 'key', the key of the last
 * segment). A key without a value points at the key; a missing key or index points at the nearest
 * existing parent.
 */
function locate(doc: Document, segments: readonly PathSegment[], target: 'key' | 'value'): number {
  let node: unknown = doc.contents;
  let offset = start(node) ?? 0;
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    const last = i === segments.length - 1;
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(segment),
      );
      if (pair === undefined) return offset;
      const keyStart = start(pair.key) ?? offset;
      if (last && target === 'key') return keyStart;
      const value = pair.value;
      const empty =
        value === null ||
        (isScalar(value) &&
          value.value === null &&
          (value.range == null || value.range[0] === value.range[1]));
      if (empty) return keyStart;
      node = value;
      offset = start(value) ?? keyStart;
    } else if (isSeq(node)) {
      const item = typeof segment === 'number' ? node.items[segment] : undefined;
      if (item === undefined || item === null) return offset;
      node = item;
      offset = start(item) ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function trajectoryOf(
  t: InventoryFile['users'][number]['trajectory'],
  trace: TraceTrajectory | undefined,
): Trajectory {
  const pt = (p: readonly [number, number]): [number, number] => [p[0], p[1]];
  switch (t.type) {
    case 'roundtrip':
      return { type: 'roundtrip', from: pt(t.from), to: pt(t.to), speed: t.speed };
    case 'waypoints':
      return { type: 'waypoints', points: t.points.map(pt), speed: t.speed, pauseS: t.pauseS, loop: t.loop };
    case 'random-waypoint':
      return {
        type: 'random-waypoint',
        area: { from: pt(t.area.from), to: pt(t.area.to) },
        speed: typeof t.speed === 'number' ? t.speed : pt(t.speed),
        pauseS: typeof t.pauseS === 'number' ? t.pauseS : pt(t.pauseS),
        seed: t.seed,
        ...(t.start === undefined ? {} : { start: pt(t.start) }),
      };
    case 'trace':
      if (trace === undefined) throw new InternalError('a trace trajectory without its points');
      return trace;
    default: {
      const unknown: never = t;
      throw new InternalError(`unknown trajectory ${JSON.stringify(unknown)}`);
    }
  }
}

interface BuildContext {
  file: string;
  path: string;
  dir: string;
  at: (segments: PathSegment[]) => SourcePos;
}

function buildInventory(
  data: InventoryFile,
  ssh: SshSettings[],
  traces: Map<number, TraceTrajectory>,
  ctx: BuildContext,
): Inventory {
  const hosts = data.hosts.map((h, i): Host => {
    const host: Host = {
      name: h.name,
      role: h.role,
      address: h.address,
      dataAddress: h.dataAddress ?? h.address,
      ssh: ssh[i]!,
      isServer: h.role === 'cloud' || h.role === 'edge',
      at: ctx.at(['hosts', i]),
    };
    if (h.capacity !== undefined) host.capacity = { ...h.capacity };
    if (h.position !== undefined) host.position = [h.position[0], h.position[1]];
    if (h.edgectlPath !== undefined) host.edgectlPath = h.edgectlPath;
    return host;
  });

  const basestations = data.basestations.map((b, i) => ({
    name: b.name,
    host: b.host,
    ...(b.server === undefined ? {} : { server: b.server }),
    position: [b.position[0], b.position[1]] as [number, number],
    radioSubnet: b.radioSubnet,
    radio: radioAddressing(b.radioSubnet),
    standard: b.standard,
    maxUsers: b.maxUsers,
    pathLoss: {
      exponent: b.pathLoss.exponent,
      referenceLossDb: b.pathLoss.referenceLossDb,
      minRssiDbm: b.pathLoss.minRssiDbm,
      ...(b.pathLoss.shadowing === undefined ? {} : { shadowing: { ...b.pathLoss.shadowing } }),
    },
    at: ctx.at(['basestations', i]),
  }));

  const links = data.links.map((l, i) => {
    const bandwidth = parseBandwidth(l.bandwidth);
    const latencyMs = parseDuration(l.latency);
    if (bandwidth === undefined || latencyMs === undefined) {
      throw new InternalError(`links[${i}] passed the schema but does not parse`);
    }
    return {
      between: [l.between[0], l.between[1]] as [string, string],
      bandwidth: bandwidth.text,
      bandwidthBps: bandwidth.bps,
      latency: l.latency,
      latencyMs,
      at: ctx.at(['links', i]),
    };
  });

  const users = data.users.map((u, i) => ({
    name: u.name,
    host: u.host,
    service: u.service,
    trajectory: trajectoryOf(u.trajectory, traces.get(i)),
    task: {
      sizeBytes: u.task.sizeBytes,
      ratePerSec: u.task.ratePerSec,
      ...(u.task.frames === undefined
        ? {}
        : { frames: u.task.frames === SAMPLE_FRAMES ? SAMPLE_FRAMES : path.resolve(ctx.dir, u.task.frames) }),
      frameWidth: u.task.frameWidth,
      frameQuality: u.task.frameQuality,
    },
    ...(u.startBasestation === undefined ? {} : { startBasestation: u.startBasestation }),
    address: u.address ?? defaultUserAddress(data.userSubnet, i),
    port: u.port ?? DEFAULT_USER_PORT_BASE + i,
    at: ctx.at(['users', i]),
  }));

  const services = data.services.map((s, i): Service => {
    const probe = parseProbe(s.probe ?? (s.app !== undefined ? 'edgectl' : 'tcp'));
    const base = {
      name: s.name,
      port: s.port,
      env: { ...s.env },
      ...(s.limits === undefined ? {} : { limits: { ...s.limits } }),
      probe,
      offload: s.offload === undefined ? defaultOffload(s.app !== undefined, probe) : parseOffload(s.offload),
      ...(s.stateCheck === undefined ? {} : { stateCheck: [...s.stateCheck] }),
      at: ctx.at(['services', i]),
    };
    if (s.app !== undefined) return { ...base, app: s.app };
    if (s.image !== undefined) return { ...base, image: s.image };
    throw new InternalError(`services[${i}] passed the schema without app or image`);
  });

  return {
    file: ctx.file,
    path: ctx.path,
    dir: ctx.dir,
    testbed: data.testbed,
    hosts,
    basestations,
    links,
    users,
    services,
    userSubnet: data.userSubnet,
    ...(data.lab ? { lab: data.lab } : {}),
    raw: data,
  };
}
