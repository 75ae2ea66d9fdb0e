/**
 * The agent's task stream: tasks at the spec's rate towards the user's current endpoint, in the service's
 * task mode (hosts.yml's offload), one stream at a time. A new endpoint (a handover, a migration) starts a
 * new stream once the previous one has ended; task ids, the frames they carry and what the service took
 * lately go on across streams. What a result means for the user (its report, a gap) is the agent's.
 */
import type { AgentSpec, Endpoint } from './agent-spec.js';
import { sendTasks, type TaskResult } from './client.js';
import { type ModeTaskResult, sendModeTasks } from './client-modes.js';
import { type Frame, framePayload, loadFrames } from './frames.js';

export type AgentTaskResult = TaskResult | ModeTaskResult;

export class AgentTasks {
  private abort: AbortController | undefined;
  private done: Promise<void> = Promise.resolve();
  private nextTaskId = 1;
  /** The service's processing time of the last answered task (ms; unset before any): the next stream's wait. */
  private procMs: number | undefined;
  /** The frames task id i carries (frame i - 1 mod n), read once before the first task; none: seeded bytes. */
  private frames: Frame[] | undefined;
  /** Tasks with a result so far. */
  count = 0;

  constructor(
    private readonly spec: AgentSpec,
    /** Aborts every stream for good (the agent stopping). */
    private readonly stopping: AbortSignal,
    private readonly onResult: (r: AgentTaskResult, endpoint: Endpoint) => void,
  ) {}

  /** Reads the spec's frames (a directory that cannot be read throws, naming the file). */
  async load(): Promise<void> {
    if (this.spec.task.frames !== undefined)
      this.frames = await loadFrames({
        frames: this.spec.task.frames,
        frameWidth: this.spec.task.frameWidth,
        frameQuality: this.spec.task.frameQuality,
      });
  }

  /** (Re)starts the stream towards `endpoint` (none: stops it). */
  restart(endpoint: Endpoint | null): void {
    this.abort?.abort();
    const previous = this.done;
    if (!endpoint || this.stopping.aborted) {
      this.done = previous;
      return;
    }
    const abort = new AbortController();
    this.abort = abort;
    const frames = this.frames;
    this.stopping.addEventListener('abort', () => abort.abort(), { once: true });
    const mode = this.spec.offload;
    this.done = previous.then(() => {
      if (abort.signal.aborted) return undefined;
      const common = {
        ...endpoint,
        localAddress: this.spec.address,
        user: this.spec.user,
        count: Number.MAX_SAFE_INTEGER,
        sizeBytes: this.spec.task.sizeBytes,
        intervalMs: 1000 / this.spec.task.ratePerSec,
        timeoutMs: 10_000,
        attemptTimeoutMs: this.spec.attemptTimeoutMs,
        firstId: this.nextTaskId,
        seed: this.nextTaskId,
        signal: abort.signal,
        onAnswer: (r: AgentTaskResult) => this.onAnswer(r, endpoint),
      };
      return (
        mode.kind !== 'edgectl'
          ? sendModeTasks({ ...common, mode })
          : sendTasks({
              ...common,
              // What the service took lately, carried over to the stream after a handover or a migration.
              ...(this.procMs === undefined ? {} : { expectedProcMs: this.procMs }),
              // Over the whole run (task ids go on across endpoints), task id i carries frame i - 1 mod n.
              ...(frames ? { payload: framePayloads(frames, this.nextTaskId) } : {}),
            })
      ).then(() => undefined);
    });
  }

  /** Stops the stream under way (restart starts another). */
  stop(): void {
    this.abort?.abort();
  }

  /** Resolves when the last stream started has ended. */
  async ended(): Promise<void> {
    await this.done.catch(() => {});
  }

  private onAnswer(r: AgentTaskResult, endpoint: Endpoint): void {
    this.nextTaskId = r.id + 1;
    if (r.ok && r.procMs !== null) this.procMs = r.procMs;
    this.count++;
    this.onResult(r, endpoint);
  }
}

/** The payloads of a task stream whose first task has id `firstId`. */
function framePayloads(frames: Frame[], firstId: number): (index: number) => Buffer {
  return (index) => framePayload(frames, firstId - 1 + index);
}
