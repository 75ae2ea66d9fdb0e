/**
 * Steps that own their undo. A step's undo is registered before the step runs when the step can change
 * something even as it fails (its intent: the final checkpoint may pause the source and then fail), or
 * once it has ended otherwise; every registration and every end is written to a journal, so that a
 * process that finds the journal after a crash knows which undos are owed. On failure the undos run in
 * the reverse order of their registration; each that fails is recorded and the next runs regardless
 * (one broken host must not keep the others' undos from running). `commit()` ends the undo stack: from
 * then on the work goes forward.
 */
import { errorMessage } from '../errors.js';
import type { StepRecord, StepStatus } from '../state/index.js';

export interface StepJournal {
  record(rec: StepRecord): void;
}

export interface UndoFailure {
  step: string;
  error: string;
}

interface Registered {
  step: string;
  undo: () => Promise<void>;
}

export class StepRunner {
  private readonly stack: Registered[] = [];
  private committed = false;

  constructor(private readonly journal: StepJournal) {}

  private note(step: string, status: StepStatus, error?: string): void {
    this.journal.record({ step, status, atMs: Date.now(), ...(error === undefined ? {} : { error }) });
  }

  /**
   * Runs a step. `undo` (if any) is owed from the moment the step begins when `intent` is set (the step
   * may leave something behind even when it fails), or from its successful end otherwise.
   */
  async run<T>(
    step: string,
    work: () => Promise<T>,
    undo?: () => Promise<void>,
    options: { intent?: boolean } = {},
  ): Promise<T> {
    if (this.committed) throw new Error(`step ${step} after the commit: no undo can be owed any more`);
    if (undo && options.intent) {
      this.note(step, 'begun');
      this.stack.push({ step, undo });
    }
    const result = await work();
    this.note(step, 'done');
    if (undo && !options.intent) this.stack.push({ step, undo });
    return result;
  }

  /** The steps whose undo is owed, in the order they registered. */
  get owed(): string[] {
    return this.stack.map((r) => r.step);
  }

  /** Runs every owed undo, last registered first; returns those that failed (recorded as undo-failed). */
  async unwind(): Promise<UndoFailure[]> {
    const failed: UndoFailure[] = [];
    while (this.stack.length > 0) {
      const r = this.stack.pop()!;
      try {
        await r.undo();
        this.note(r.step, 'undone');
      } catch (err) {
        const error = errorMessage(err);
        this.note(r.step, 'undo-failed', error);
        failed.push({ step: r.step, error });
      }
    }
    return failed;
  }

  /** The point of no return: nothing is undone after it. */
  commit(): void {
    this.note('commit', 'done');
    this.stack.length = 0;
    this.committed = true;
  }
}

/**
 * The undos a journal says are still owed, last registered first: steps registered (begun, or done for
 * steps without intent that have an undo) and neither undone since. `hasUndo` says which steps have one.
 * Null once the journal has a commit: nothing is owed, the work goes forward.
 */
export function owedUndos(steps: readonly StepRecord[], hasUndo: (step: string) => boolean): string[] | null {
  if (steps.some((s) => s.step === 'commit' && s.status === 'done')) return null;
  const owed: string[] = [];
  for (const s of steps) {
    if (!hasUndo(s.step)) continue;
    if ((s.status === 'begun' || s.status === 'done') && !owed.includes(s.step)) owed.push(s.step);
    const at = owed.indexOf(s.step);
    if (s.status === 'undone' && at >= 0) owed.splice(at, 1);
  }
  return owed.reverse();
}
