/**
 * An engine in a worker thread: the event loop keeps running while it works, and a deadline or an
 * AbortSignal can always end it (the worker is terminated). The worker's code is a CommonJS string run
 * with `eval: true` that `require`s its package by the path resolved here: it works the same from dist/
 * (tsc output) and from the TypeScript sources under vitest, with nothing to copy at build time.
 * One idle worker per engine is kept between jobs, unref'd (a process never waits for it): a fresh one
 * costs a thread start and, for HiGHS, compiling its WebAssembly (about 100 ms measured).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export type WorkerOutcome<T> =
  | { kind: 'done'; value: T }
  | { kind: 'deadline' }
  | { kind: 'error'; message: string };

export interface WorkerRun {
  /** Terminate the worker after this long (ms) and resolve with { kind: 'deadline' }. */
  deadlineMs: number;
  signal?: AbortSignal;
  /** Messages of the job other than its end (type !== 'done' and !== 'error'). */
  onProgress?: (message: Record<string, unknown>) => void;
}

export class EngineWorker {
  private idle: Worker | undefined;
  private nextJob = 1;
  private path: string | undefined;

  /**
   * @param source the worker's code: answers each `{ id, ... }` job with `{ id, type: 'done', ... }` or
   *   `{ id, type: 'error', message }`, and may post `{ id, type: <other> }` meanwhile.
   * @param pkg the package whose resolved path the worker gets as workerData.path.
   */
  constructor(
    private readonly source: string,
    private readonly pkg: string,
  ) {}

  run<T>(
    job: Record<string, unknown>,
    transfer: ArrayBuffer[],
    options: WorkerRun,
  ): Promise<WorkerOutcome<T>> {
    const { signal } = options;
    signal?.throwIfAborted();
    const id = this.nextJob++;
    const w = this.take();
    return new Promise((resolve, reject) => {
      const end = (keep: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        w.off('message', onMessage);
        w.off('error', onError);
        w.off('exit', onExit);
        if (keep) this.giveBack(w);
        else void w.terminate();
      };
      const onMessage = (m: Record<string, unknown>) => {
        if (m['id'] !== id) return;
        if (m['type'] === 'done') {
          end(true);
          resolve({ kind: 'done', value: m as T });
        } else if (m['type'] === 'error') {
          end(true);
          resolve({ kind: 'error', message: String(m['message']) });
        } else {
          options.onProgress?.(m);
        }
      };
      const onError = (e: Error) => {
        end(false);
        resolve({ kind: 'error', message: `the worker failed: ${e.message}` });
      };
      const onExit = (code: number) => {
        end(false);
        resolve({ kind: 'error', message: `the worker exited (${code})` });
      };
      const onAbort = () => {
        end(false);
        reject(signal!.reason);
      };
      const timer = setTimeout(() => {
        end(false);
        resolve({ kind: 'deadline' });
      }, options.deadlineMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      w.on('message', onMessage);
      w.on('error', onError);
      w.on('exit', onExit);
      w.postMessage({ ...job, id }, transfer);
    });
  }

  /** Ends the idle worker, if any. */
  async close(): Promise<void> {
    const w = this.idle;
    this.idle = undefined;
    await w?.terminate();
  }

  private take(): Worker {
    const w = this.idle;
    this.idle = undefined;
    if (w !== undefined) {
      w.ref();
      return w;
    }
    this.path ??= createRequire(import.meta.url).resolve(this.pkg);
    return new Worker(this.source, { eval: true, workerData: { path: this.path } });
  }

  private giveBack(w: Worker): void {
    if (this.idle !== undefined) {
      void w.terminate();
      return;
    }
    this.idle = w;
    w.unref();
  }
}
