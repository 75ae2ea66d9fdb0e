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
  /** On the source, before the final checkpoint: a failure leaves the service running there. */
  before(run: RunInContainer, where: string): Promise<void>;
  /**
   * After the restore, with the downtime probe's result (null without one): throws when the state did not
   * survive. `run` runs in the destination's container.
   */
  after(run: RunInContainer, sides: Sides, probe: ProbeResult | null): Promise<void>;
  readonly recorded: StateRecord;
}

const TIMEOUT_MS = 30_000;

/** The check a service gets: its own stateCheck, else a bundled app's digest, else none. */
export function stateCheckFor(service: Service): StateCheck | undefined {
  if (service.stateCheck) return new OutputCheck(service.stateCheck);
  if (service.app) return new DigestCheck();
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

/**
 * The digest check's verdict on what the downtime probe saw (`state` of its result, which came over SSH
 * from the user's machine: not trusted, every field checked here). Returns what to record; throws when
 * the state did not survive: another digest after the same task, the counter gone back, the state after
 * that task no longer kept, or no answer to the question.
 */
export function judgeProbedState(seen: unknown, from: string, to: string): DigestRecord {
  const state = isRecord(seen) ? seen : undefined;
  const before = isRecord(state?.['before']) ? state['before'] : undefined;
  if (!state || !before || !isCounter(before['counter']))
    return {
      counter: null,
      digest: null,
      note: `not checked: the probe saw no counter of the service on ${from}`,
    };
  const c = before['counter'];
  const digest = before['digest'];
  if (digest === null || digest === undefined)
    return {
      counter: c,
      digest: null,
      note: `not checked: the service on ${from} keeps no state digest (an image built before them)`,
    };
  if (typeof digest !== 'string' || !DIGEST.test(digest))
    throw new Error(`the service on ${from} answered a malformed state digest: ${JSON.stringify(digest)}`);
  const after = isRecord(state['after']) ? state['after'] : undefined;
  if (!after)
    throw new Error(
      `the probe did not ask the service on ${to} for its state after task ${c} (digest ${digest} on ${from})`,
    );
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

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A bundled app's state digest: the state after task C on the destination is the source's (the probe's). */
class DigestCheck implements StateCheck {
  private record: DigestRecord = { counter: null, digest: null };

  async before(): Promise<void> {}

  async after(_run: RunInContainer, sides: Sides, probe: ProbeResult | null): Promise<void> {
    if (probe?.probe !== 'edgectl') {
      this.record = {
        counter: null,
        digest: null,
        note: "not checked: no edgectl probe ran (--no-probe, or the service's probe is not edgectl)",
      };
      return;
    }
    if (probe.answeredBy !== 'to') {
      this.record = {
        counter: null,
        digest: null,
        note: `not checked: the probe did not see the service answer on ${sides.to}`,
      };
      return;
    }
    this.record = judgeProbedState(probe.state, sides.from, sides.to);
  }

  get recorded(): StateRecord {
    return { stateCheck: null, stateDigest: this.record };
  }
}
