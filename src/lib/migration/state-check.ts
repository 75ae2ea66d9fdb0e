/**
 * What must survive a migration, checked inside the service's container: once on the source before the
 * final checkpoint (the service still runs), once on the destination after the restore; one exec on each
 * side (an exec over SSH is a session of its own, login shell included). A check that fails after the
 * restore fails the verify phase, which rolls the migration back to the source.
 *
 * - A service's own `stateCheck` (hosts.yml): an argv whose output must not change. The user's tasks in
 *   between change most states; the guide says to check something they do not change.
 * - Else, for a bundled app, its state digest: `client.mjs --state` on the source gives the counter C and
 *   the digest D of the whole state after task C (the counter, the galleries or the tallies);
 *   `client.mjs --state-at C` on the destination must give D. The apps keep the digests of their recent
 *   states (apps/PROTOCOL.md), so tasks that arrive in between (the user's agent sends until the
 *   checkpoint, and again as soon as the destination answers) move the counter on without changing the
 *   state after task C. A service that keeps no digests (an image built before them) is not checked, and
 *   the result says so.
 */
import type Docker from 'dockerode';
import { execIn } from '../docker/deploy.js';
import { IMAGE_APPS_DIR, IMAGE_NODE_PATH } from '../image/index.js';
import type { Service } from '../inventory/index.js';
import type { MigrationResult } from './model.js';

/** Runs an argv in the service's container: its exit code and stdout. */
export type RunInContainer = (argv: string[], timeoutMs: number) => Promise<{ code: number; stdout: string }>;

/** What the migration's result records of the check. */
export type StateRecord = Pick<MigrationResult, 'stateCheck' | 'stateDigest'>;

export interface StateCheck {
  /** On the source, before the final checkpoint: a failure leaves the service running there. */
  before(run: RunInContainer, where: string): Promise<void>;
  /** On the destination, after the restore: throws when the state did not survive. */
  after(run: RunInContainer, where: string): Promise<void>;
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

  async after(run: RunInContainer, where: string): Promise<void> {
    if (this.output === undefined) return;
    const after = await this.run(run, where);
    if (after !== this.output)
      throw new Error(
        `the state check (${this.argv.join(' ')}) gave ${JSON.stringify(after.trim().slice(0, 200))} on ${where}, ${JSON.stringify(this.output.trim().slice(0, 200))} before`,
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

/** The last line of the client's output as a JSON object (the container's output: not trusted). */
function lastJson(stdout: string): Record<string, unknown> | undefined {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  try {
    const v: unknown = JSON.parse(line);
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const DIGEST = /^[0-9a-f]{32}$/;

/** A bundled app's state digest: the state after task C on the destination is the source's. */
class DigestCheck implements StateCheck {
  private counter: number | null = null;
  private digest: string | null = null;
  private note: string | undefined;
  constructor(private readonly port: number) {}

  async before(run: RunInContainer, where: string): Promise<void> {
    const r = await run(stateArgv(this.port), TIMEOUT_MS);
    // 2: the image's client.mjs does not know --state (usage error): an image built before digests.
    if (r.code === 2) {
      this.note = `not checked: the image's client.mjs on ${where} does not know --state (an image built before state digests)`;
      return;
    }
    const out = lastJson(r.stdout);
    const counter = out?.['counter'];
    if (r.code !== 0 || !Number.isSafeInteger(counter) || (counter as number) < 0)
      throw new Error(
        `reading the service's state (client.mjs --state) on ${where} failed (exit ${r.code}): ${r.stdout.trim().slice(0, 200)}`,
      );
    this.counter = counter as number;
    const digest = out?.['digest'];
    if (digest === undefined || digest === null) {
      this.note = `not checked: the service on ${where} keeps no state digest (an image built before them)`;
      return;
    }
    if (typeof digest !== 'string' || !DIGEST.test(digest))
      throw new Error(`the service on ${where} answered a malformed state digest: ${JSON.stringify(digest)}`);
    this.digest = digest;
  }

  async after(run: RunInContainer, where: string): Promise<void> {
    if (this.digest === null || this.counter === null) return;
    const c = this.counter;
    const r = await run(stateArgv(this.port, c), TIMEOUT_MS);
    const out = lastJson(r.stdout);
    const error = out?.['error'];
    if (r.code !== 0 || typeof error === 'string') {
      const why = typeof error === 'string' ? error : r.stdout.trim().slice(0, 200);
      if (/not reached yet/.test(why))
        throw new Error(
          `the counter went back: the service on ${where} has not reached task ${c} (the source had, with state digest ${this.digest}): ${why}`,
        );
      if (/no longer kept/.test(why))
        throw new Error(
          `the service on ${where} no longer keeps its state after task ${c} (digest ${this.digest} on the source), so its state cannot be checked: ${why}`,
        );
      throw new Error(
        `reading the state after task ${c} (client.mjs --state-at ${c}) on ${where} failed (exit ${r.code}): ${why}`,
      );
    }
    const digest = out?.['digest'];
    if (out?.['counter'] !== c || digest !== this.digest)
      throw new Error(
        `the state after task ${c} differs: digest ${JSON.stringify(digest)} on ${where}, ${this.digest} on the source before the checkpoint`,
      );
  }

  get recorded(): StateRecord {
    return {
      stateCheck: null,
      stateDigest: {
        counter: this.counter,
        digest: this.digest,
        ...(this.note !== undefined ? { note: this.note } : {}),
      },
    };
  }
}
