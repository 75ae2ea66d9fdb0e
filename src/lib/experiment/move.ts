/**
 * One move of a user's service during an experiment: a delta migration with the downtime probe on the user's
 * machine, its final checkpoint held until a given instant when there is one, the agent sent to the new
 * endpoint as soon as the service answers there, and the migration's outage recorded as a gap of the run.
 * Both controllers move through here; what a move did comes back as a MoveOutcome (it never throws), from
 * which they record their decisions.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { userHostPort } from '../docker/deploy.js';
import { errorMessage, InterruptedError } from '../errors.js';
import { getHost, type Inventory } from '../inventory/index.js';
import { MigrationError, migrate, type Phase, type PhaseName } from '../migration/pipeline.js';
import type { SshPool } from '../remote/index.js';
import type { StateDb } from '../state/index.js';
import type { UserRun } from './controllers/controller.js';

export interface MoveRequest {
  user: UserRun;
  to: string;
  /** The final checkpoint's instant (controller time, epoch ms); none: as soon as everything is ready. */
  at?: number | null;
}

export interface MoveOutcome {
  ok: boolean;
  /** Ended by Ctrl+C (rolled back or abandoned). */
  interrupted: boolean;
  from: string;
  to: string;
  /** Where the service runs after it: `to` when ok, else where it was put back. */
  host: string;
  migrationId: number | null;
  /** When the pre-checkpoint and the final checkpoint started (controller time). */
  preStartMs: number | null;
  checkpointStartMs: number | null;
  /**
   * Pre-checkpoint + pre-transfer durations; the pre-transfer's bytes and the time they took on the wire
   * (its send: not the wait for the channel's session nor the checksums), for its throughput.
   */
  preMs: number | null;
  preBytes: number | null;
  preTransferMs: number | null;
  /** The outage the probe saw (controller time), null when it was not measured. */
  outage: { startMs: number; endMs: number } | null;
  error: string | null;
}

export interface MoveEnv {
  inv: Inventory;
  pool: SshPool;
  state: StateDb;
  experimentId: number;
  now: () => number;
  signal?: AbortSignal;
  warn: (message: string) => void;
}

/** The pre phases' part of an outcome, from the phases a migration ended with. */
export function prePhases(
  phases: readonly Phase[],
): Pick<MoveOutcome, 'preMs' | 'preBytes' | 'preTransferMs'> {
  const ck = phases.find((p) => p.name === 'pre-checkpoint');
  const tx = phases.find((p) => p.name === 'pre-transfer');
  return {
    preMs: ck && tx ? ck.durationMs + tx.durationMs : null,
    preBytes: tx?.bytes ?? null,
    preTransferMs: tx?.parts?.['send'] ?? tx?.durationMs ?? null,
  };
}

/** Migrates a user's service (delta), the final checkpoint at `at` when given; tells its agent the new endpoint. */
export async function moveService(env: MoveEnv, req: MoveRequest): Promise<MoveOutcome> {
  const { inv, state, signal } = env;
  const u = req.user;
  const from = u.host;
  const to = req.to;
  const endpoint = { address: getHost(inv, to).dataAddress, port: userHostPort(inv, u.name) };
  // Phase starts as they happen, on the controller's clock (the phases' own times count from the migration's start).
  const started: Partial<Record<PhaseName, number>> = {};
  const at = req.at;
  const base = { from, to, preStartMs: null, checkpointStartMs: null } as const;
  try {
    // migrate() holds the user's lock (this machine's and the source server's) for the whole of it.
    const r = await migrate(inv, env.pool, state, {
      user: u.name,
      to,
      experimentId: env.experimentId,
      // The probe on the user's machine measures the migration's gap as the user sees it (the agent's
      // tasks only see it at their own rate, and switch endpoints when told).
      probe: true,
      ...(signal ? { signal } : {}),
      ...(at
        ? {
            beforeCheckpoint: async () => {
              const wait = at - env.now();
              if (wait > 0) await sleep(wait, undefined, signal ? { signal } : {});
            },
          }
        : {}),
      onPhase: (e) => {
        if (e.status === 'start') started[e.name] = env.now();
        // The service answers on the destination: the agent goes there at once.
        if (e.name === 'restore' && e.status === 'end') u.agent?.send({ cmd: 'endpoint', endpoint });
      },
    });
    const p = r.probe;
    let outage: MoveOutcome['outage'] = null;
    if (p?.lastOkBeforeMs != null && p.firstOkAfterMs != null) {
      outage = { startMs: p.lastOkBeforeMs + u.clockOffsetMs, endMs: p.firstOkAfterMs + u.clockOffsetMs };
      state.gaps.insert({
        experimentId: env.experimentId,
        user: u.name,
        startMs: outage.startMs,
        endMs: outage.endMs,
        cause: 'migration',
        detail: `${from} -> ${to}`,
      });
    } else env.warn(`${u.name}'s migration ${from} -> ${to}: its downtime was not measured`);
    u.agent?.send({ cmd: 'endpoint', endpoint });
    return {
      ...base,
      ok: true,
      interrupted: false,
      host: to,
      migrationId: r.migrationId,
      preStartMs: started['pre-checkpoint'] ?? null,
      checkpointStartMs: started.checkpoint ?? null,
      ...prePhases(r.phases),
      outage,
      error: null,
    };
  } catch (err) {
    const interrupted = err instanceof InterruptedError || signal?.aborted === true;
    if (!interrupted) env.warn(`migrating ${u.name} ${from} -> ${to}: ${errorMessage(err)}`);
    // Wherever the failure left it (a rollback puts it back on the source): the agent goes there.
    const back = state.placements.get(u.name);
    if (back) u.agent?.send({ cmd: 'endpoint', endpoint: { address: back.address, port: back.port } });
    return {
      ...base,
      ok: false,
      interrupted,
      host: back?.host ?? from,
      // The migration's row id is the pipeline's own and not in its error (its phases are).
      migrationId: null,
      preStartMs: started['pre-checkpoint'] ?? null,
      checkpointStartMs: started.checkpoint ?? null,
      ...prePhases(err instanceof MigrationError ? err.phases : []),
      outage: null,
      error: interrupted ? 'interrupted' : errorMessage(err),
    };
  }
}
