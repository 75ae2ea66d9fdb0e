/**
 * What must survive a migration, checked once before the final checkpoint (the service still runs on the
 * source) and once after the restore. A check that fails after the restore fails the verify phase, which
 * rolls the migration back to the source.
 *
 * - A service's own `stateCheck` (hosts.yml): an argv whose output must not change, run in its container
 *   on each side (an exec over SSH: a session of its own, login shell included). The user's tasks in
 *   between change most states; the guide says to check something they do not change.
 * - Else, for a bundled app, its state digest, carried by the downtime probe (mu/probe.ts) with no exec:
 *   the source's last answer before the gap gives the counter C and the digest D of the whole state after
 *   task C (the counter, the galleries or the tallies); the destination, asked with a ping `at` C once it
 *   answered, must give D. The apps keep the digests of their recent states (apps/PROTOCOL.md), so tasks
 *   that arrive in between (the user's agent sends until the checkpoint, and again as soon as the
 *   destination answers) move the counter on without changing the state after task C. A service that
 *   keeps no digests (an image built before them), or a migration without the edgectl probe
 *   (`--no-probe`), is not checked, and the result says so.
 */
import type Docker from 'dockerode';
import { execIn } from '../docker/deploy.js';
import { IMAGE_APPS_DIR, IMAGE_NODE_PATH } from '../image/index.js';
import type { Service } from '../inventory/index.js';
import type { ProbeResult } from '../mu/probe.js';
import type { MigrationResult } from './model.js';

/** Runs an argv in the service's container: its exit code and stdout. */
export type RunInContainer = (argv: string[], timeoutMs: number) => Promise<{ code: number; stdout: string }>;

/** What the migration's result records of the check. */
export type StateRecord = Pick<MigrationResult, 'stateCheck' | 'stateDigest'>;

/** The migration's two hosts, for messages. */
export interface Sides {
  from: string;
  to: string;
}

export interface StateCheck {
  /**
   * On the source, before the final checkpoint: a failure leaves the service running there. `probeCarries`:
   * an edgectl downtime probe is to run, which brings the source's state without an exec.
   */
  before(run: RunInContainer, where: string, probeCarries: boolean): Promise<void>;
  /**
   * After the restore, with the downtime probe's result (null without one): throws when the state did not
   * survive. `run` runs in the destination's container.
   */
  after(run: RunInContainer, sides: Sides, probe: ProbeResult | null): Promise<void>;
  readonly recorded: StateRecord;
}

const TIMEOUT_MS = 30_000;
/** The client's own budget, within the exec's: a restored service answers at once (verify saw it). */
const CLIENT_TIMEOUT_MS = 10_000;

/** The check a service gets: its own stateCheck, else a bundled app's digest, else none. */
export function stateCheckFor(service: Service): StateCheck | undefined {
  if (service.stateCheck) return new OutputCheck(service.stateCheck);
  if (service.app) return new DigestCheck(service.port);
  return undefined;
}

/** The result's fields for a migration with this check (both null without one). */
export function recordedState(check: StateCheck | undefined): StateRecord {
  return check?.recorded ?? { stateCheck: null, stateDigest: null };
}

/** execIn on a container, as a RunInContainer. */
export function runIn(container: Docker.Container): RunInContainer {
  return (argv, timeoutMs) => execIn(container, argv, timeoutMs);
}

/** `client.mjs --state` (at undefined) or `--state-at AT`, asking the app on its port inside the container. */
export function stateArgv(port: number, at?: number): string[] {
  return [
    IMAGE_NODE_PATH,
    `${IMAGE_APPS_DIR}/client.mjs`,
    '--address',
    '127.0.0.1',
    '--port',
    String(port),
    ...(at === undefined ? ['--state'] : ['--state-at', String(at)]),
    '--timeout-ms',
    String(CLIENT_TIMEOUT_MS),
    '--connect-timeout-ms',
    '1000',
  ];
}

/** A service's own stateCheck: the same output before and after. */
class OutputCheck implements StateCheck {
  private output: string | undefined;
  constructor(private readonly argv: string[]) {}

  async before(run: RunInContainer, where: string): Promise<void> {
    this.output = await this.run(run, where);
  }

  async after(run: RunInContainer, sides: Sides): Promise<void> {
    if (this.output === undefined) return;
    const after = await this.run(run, sides.to);
    if (after !== this.output)
      throw new Error(
        `the state check (${this.argv.join(' ')}) gave ${JSON.stringify(after.trim().slice(0, 200))} on ${sides.to}, ${JSON.stringify(this.output.trim().slice(0, 200))} before`,
      );
  }

  get recorded(): StateRecord {
    return {
      stateCheck: this.output === undefined ? null : { argv: this.argv, output: this.output },
      stateDigest: null,
    };
  }

  private async run(run: RunInContainer, where: string): Promise<string> {
    const r = await run(this.argv, TIMEOUT_MS);
    if (r.code !== 0)
      throw new Error(
        `the state check (${this.argv.join(' ')}) exited with ${r.code} on ${where}: ${r.stdout.trim()}`,
      );
    return r.stdout;
  }
}

const DIGEST = /^[0-9a-f]{32}$/;
const isCounter = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/** What a digest check records: the counter and digest compared, or why nothing was (`note`). */
export type DigestRecord = NonNullable<MigrationResult['stateDigest']>;

/** The source's state to compare against: task C and the digest after it. */
interface SourceState {
  counter: number;
  digest: string;
}

/**
 * The source's answer (the probe's last before the gap, or `client.mjs --state`'s output): not trusted, every
 * field checked. A record with a note when there is nothing to compare; throws on a malformed digest.
 */
function sourceState(answer: unknown, from: string): SourceState | DigestRecord {
  const a = isRecord(answer) ? answer : undefined;
  if (!a || !isCounter(a['counter']))
    return {
      counter: null,
      digest: null,
      note: `not checked: no counter of the service on ${from} was seen`,
    };
  const c = a['counter'];
  const digest = a['digest'];
  if (digest === null || digest === undefined)
    return {
      counter: c,
      digest: null,
      note: `not checked: the service on ${from} keeps no state digest (an image built before them)`,
    };
  if (typeof digest !== 'string' || !DIGEST.test(digest))
    throw new Error(`the service on ${from} answered a malformed state digest: ${JSON.stringify(digest)}`);
  return { counter: c, digest };
}

const isSource = (v: SourceState | DigestRecord): v is SourceState =>
  typeof v.digest === 'string' && !('note' in v);

/**
 * The destination's answer to "your state after task C" (`stateAt` of a ping, or `client.mjs --state-at`'s
 * output; not trusted): returns what to record, throws when the state did not survive: another digest after
 * the same task, the counter gone back, the state after that task no longer kept, or no answer.
 */
function judgeAnswer(source: SourceState, answer: unknown, from: string, to: string): DigestRecord {
  const { counter: c, digest } = source;
  const after = isRecord(answer) ? answer : undefined;
  if (!after)
    throw new Error(`the service on ${to} gave no state after task ${c} (digest ${digest} on ${from})`);
  const error = after['error'];
  if (typeof error === 'string') {
    if (/not reached yet/.test(error))
      throw new Error(
        `the counter went back: the service on ${to} has not reached task ${c} (${from} had, with state digest ${digest}): ${error}`,
      );
    if (/no longer kept/.test(error))
      throw new Error(
        `the service on ${to} no longer keeps its state after task ${c} (digest ${digest} on ${from}), so its state cannot be checked: ${error}`,
      );
    throw new Error(`asking the service on ${to} for its state after task ${c} failed: ${error}`);
  }
  if (after['counter'] !== c || after['digest'] !== digest)
    throw new Error(
      `the state after task ${c} differs: digest ${JSON.stringify(after['digest'])} on ${to}, ${digest} on ${from} before the checkpoint`,
    );
  return { counter: c, digest };
}

/**
 * The digest check's verdict on what the downtime probe saw (`state` of its result, which came over SSH
 * from the user's machine: not trusted, every field checked here). Returns what to record; throws when
 * the state did not survive (judgeAnswer) or the probe did not ask.
 */
export function judgeProbedState(seen: unknown, from: string, to: string): DigestRecord {
  const state = isRecord(seen) ? seen : undefined;
  const source = sourceState(state?.['before'], from);
  if (!isSource(source)) return source;
  if (!isRecord(state?.['after']))
    throw new Error(
      `the probe did not ask the service on ${to} for its state after task ${source.counter} (digest ${source.digest} on ${from})`,
    );
  return judgeAnswer(source, state['after'], from, to);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The last line of the client's output as a JSON object (the container's output: not trusted). */
function lastJson(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    const v: unknown = JSON.parse(line);
    return isRecord(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A bundled app's state digest: the state after task C on the destination is the source's. Carried by the
 * edgectl probe when one runs and sees the destination answer; else asked by exec on each side.
 */
class DigestCheck implements StateCheck {
  private record: DigestRecord = { counter: null, digest: null };
  /** What `client.mjs --state` gave on the source (no edgectl probe was to run). */
  private execSource: SourceState | DigestRecord | undefined;
  constructor(private readonly port: number) {}

  async before(run: RunInContainer, where: string, probeCarries: boolean): Promise<void> {
    if (probeCarries) return;
    const r = await run(stateArgv(this.port), TIMEOUT_MS);
    // 2: the image's client.mjs does not know --state (usage error): an image built before digests.
    if (r.code === 2) {
      this.execSource = {
        counter: null,
        digest: null,
        note: `not checked: the image's client.mjs on ${where} does not know --state (an image built before state digests)`,
      };
      return;
    }
    if (r.code !== 0)
      throw new Error(
        `reading the service's state (client.mjs --state) on ${where} failed (exit ${r.code}): ${r.stdout.trim().slice(0, 200)}`,
      );
    this.execSource = sourceState(lastJson(r.stdout), where);
  }

  async after(run: RunInContainer, sides: Sides, probe: ProbeResult | null): Promise<void> {
    const edgectl = probe?.probe === 'edgectl' ? probe : undefined;
    const state = isRecord(edgectl?.state) ? edgectl.state : undefined;
    if (edgectl?.answeredBy === 'to' && isRecord(state?.['after'])) {
      this.record = judgeProbedState(state, sides.from, sides.to);
      return;
    }
    // The probe did not carry the check (none ran, or it did not see the destination answer or ask it):
    // the source's state as the exec before, or the probe's last answer from the source, gave it; the
    // destination is asked by exec.
    const source = this.execSource ?? sourceState(state?.['before'], sides.from);
    if (!isSource(source)) {
      this.record = source;
      return;
    }
    const r = await run(stateArgv(this.port, source.counter), TIMEOUT_MS);
    const out = lastJson(r.stdout);
    if (r.code !== 0 && typeof out?.['error'] !== 'string')
      throw new Error(
        `reading the state after task ${source.counter} (client.mjs --state-at ${source.counter}) on ${sides.to} failed (exit ${r.code}): ${r.stdout.trim().slice(0, 200)}`,
      );
    this.record = judgeAnswer(source, out, sides.from, sides.to);
  }

  get recorded(): StateRecord {
    return { stateCheck: null, stateDigest: this.record };
  }
}
