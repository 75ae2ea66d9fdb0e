/**
 * Live progress of a sequence of named steps that a library call reports as events: listr2 on stderr
 * (its default renderer on a terminal, plain lines otherwise), nothing under --json.
 */
import chalk from 'chalk';
import { Listr, ListrLogger, ProcessOutput } from 'listr2';

interface Waiter<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: unknown) => void;
}

function waiter<T>(): Waiter<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export class StepProgress {
  private readonly waiters = new Map<string, Waiter<string>>();
  private readonly done: Promise<unknown>;

  constructor(steps: readonly string[], options: { silent: boolean }) {
    for (const s of steps) this.waiters.set(s, waiter<string>());
    // listr2 colours through colorette, which reads NO_COLOR once at import: follow chalk's level instead,
    // which the base command sets from --no-color, NO_COLOR and FORCE_COLOR.
    const plain = chalk.level === 0 ? { color: {} } : {};
    const logger = new ListrLogger({
      processOutput: new ProcessOutput(process.stderr, process.stderr),
      ...plain,
    });
    const listr = new Listr(
      steps.map((name) => ({
        title: name,
        task: async (_ctx: unknown, task: { title: string }) => {
          const detail = await this.waiters.get(name)!.promise;
          task.title = detail ? `${name} ${detail}` : name;
        },
      })),
      {
        concurrent: false,
        exitOnError: true,
        // listr2's own SIGINT handler exits the process (127) at once: a migration could not roll back.
        // The command's AbortSignal handles Ctrl+C.
        registerSignalListeners: false,
        renderer: options.silent ? 'silent' : 'default',
        fallbackRenderer: options.silent ? 'silent' : 'simple',
        rendererOptions: { logger, ...plain },
        fallbackRendererOptions: { logger, ...plain },
      } as ConstructorParameters<typeof Listr>[1],
    );
    this.done = listr.run().catch(() => {});
  }

  /** A step finished, with a few words on how (its time, its bytes). */
  end(step: string, detail: string): void {
    this.waiters.get(step)?.resolve(detail);
  }

  fail(step: string, error: string): void {
    this.waiters.get(step)?.reject(new Error(error));
  }

  /** Steps that never ran (the work failed earlier or skipped them) end as failed. */
  async close(): Promise<void> {
    for (const w of this.waiters.values()) w.reject(new Error('not run'));
    await this.done;
  }
}
