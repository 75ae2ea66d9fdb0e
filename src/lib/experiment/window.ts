/**
 * The run's window, for a fair comparison. Every planner is charged for the consequences of the
 * handovers inside its run's duration: a baseline's migration after its last handover, orchestrated's
 * scheduled handover. So when the duration is over the controller is closed (no new handover starts) and the
 * run goes on until it is idle, at most DRAIN_CAP_MS; what was still under way then is said (RunMeta
 * `truncated`). The results count the rows of the whole window (RunMeta `windowS`).
 */
import type { Controller } from './controllers/controller.js';

/** The longest a run waits for its controller after its duration (ms). */
export const DRAIN_CAP_MS = 60_000;
/** How often the drain asks the controller whether it is idle (ms). */
export const DRAIN_POLL_MS = 100;

export interface DrainOptions {
  /** Waited at least, whatever the controller says: a handover whose link went down just before the
   * close is reported only after its blackout (and its switch shows in the next position report). */
  settleMs: number;
  capMs?: number;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  signal?: AbortSignal;
}

export interface Drained {
  /** When the drain ended (controller time). */
  endedMs: number;
  /** What was still under way at the cap, one line each; empty when everything ended. */
  truncated: string[];
}

/** Closes the controller and waits until it is idle (after settleMs at least), or the cap, or an abort. */
export async function drain(controller: Controller, o: DrainOptions): Promise<Drained> {
  const cap = o.capMs ?? DRAIN_CAP_MS;
  const closed = o.now();
  controller.close(closed);
  for (;;) {
    const t = o.now();
    if (o.signal?.aborted) return { endedMs: t, truncated: [] };
    if (t - closed >= o.settleMs && controller.idle(t)) return { endedMs: t, truncated: [] };
    if (t - closed >= cap)
      return {
        endedMs: t,
        truncated: controller
          .pending(t)
          .map((p) => `${p} ${Math.round(cap / 1000)} s after the run's duration (not waited for)`),
      };
    await o.sleep(Math.min(DRAIN_POLL_MS, Math.max(0, closed + cap - t)));
  }
}
