/**
 * `edgectl recover`: brings every migration whose controller died (SIGKILL, a crash, a lost machine) to
 * one consistent end, from its journal: the service answering on exactly one server, the database saying
 * that server, no staging left. A migration the journal shows committed (or whose source's dead-man switch
 * was settled as committed, and whose destination answers) is finished forward: the source removed. Any
 * other is undone: every step that owes an undo, last first, the same undos a running migration does.
 */
import { reachDocker, waitUntilAnswers } from '../docker/deploy.js';
import { EdgectlError, ExitCode, errorMessage, UsageError } from '../errors.js';
import { getHost, getService, type Inventory } from '../inventory/index.js';
import { ShellExecutor, type SshPool } from '../remote/index.js';
import type { JournalEntry, StateDb } from '../state/index.js';
import { deadmanStateArgv, parseDeadmanState } from './deadman.js';
import { owedUndos } from './steps.js';
import {
  currentOwner,
  finishOnSource,
  isUndoable,
  type MigrationFacts,
  ownerAlive,
  type UndoEnv,
  undoer,
  withDeadline,
} from './undo.js';

export interface RecoveryOutcome {
  migrationId: number;
  user: string;
  from: string;
  to: string;
  /** forward: finished on the destination; back: undone, the service on the source; busy: its controller
   * still runs (left alone); failed: some undo failed (the journal stays open: run recover again). */
  outcome: 'forward' | 'back' | 'busy' | 'failed';
  /** The server the service answers on afterwards (null: busy or failed). */
  host: string | null;
  /** The steps undone (back), or done to finish (forward). */
  steps: string[];
  error: string | null;
}

export interface RecoverOptions {
  user?: string;
  /** Take over migrations whose controller runs on another machine (its liveness unknown here). */
  force?: boolean;
  onProgress?: (message: string) => void;
}

const TIMEOUT_MS = 30_000;
/** How long a thawed source must stay thawed: a checkpoint its dead controller started may still end. */
const SETTLE_MS = 3_000;

export class RecoverError extends EdgectlError {
  constructor(message: string, details: RecoveryOutcome[]) {
    super('RECOVER_FAILED', ExitCode.remote, message, {
      hint: 'fix what the message names (a host or its dockerd not answering), then run edgectl recover again',
      details: { outcomes: details },
    });
  }
}

export async function recover(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  options: RecoverOptions = {},
): Promise<RecoveryOutcome[]> {
  const outcomes: RecoveryOutcome[] = [];
  for (const entry of state.journal.unfinished(options.user)) {
    const facts = entry.facts as MigrationFacts;
    const base = { migrationId: entry.migrationId, user: entry.user, from: facts.from, to: facts.to };
    const alive = ownerAlive(entry.owner);
    if (entry.owner.pid !== process.pid && (alive === true || (alive === undefined && !options.force))) {
      outcomes.push({
        ...base,
        outcome: 'busy',
        host: null,
        steps: [],
        error:
          alive === true
            ? `its controller (pid ${entry.owner.pid}) still runs`
            : `its controller ran on ${entry.owner.host} (pid ${entry.owner.pid}); --force takes it over`,
      });
      continue;
    }
    state.journal.takeOver(entry.migrationId, currentOwner());
    options.onProgress?.(
      `recovering migration ${entry.migrationId} of ${entry.user} (${facts.from} -> ${facts.to})`,
    );
    outcomes.push(await recoverOne(inv, pool, state, entry, facts));
  }
  return outcomes;
}

async function recoverOne(
  inv: Inventory,
  pool: SshPool,
  state: StateDb,
  entry: JournalEntry,
  facts: MigrationFacts,
): Promise<RecoveryOutcome> {
  const base = { migrationId: entry.migrationId, user: entry.user, from: facts.from, to: facts.to };
  const shells: ShellExecutor[] = [];
  try {
    const side = async (name: string) => {
      const host = getHost(inv, name);
      const shell = new ShellExecutor(pool, host);
      shells.push(shell);
      const docker = await reachDocker(pool, host);
      return { host, shell, docker };
    };
    const [src, dst] = await Promise.all([side(facts.from), side(facts.to)]);
    const env: UndoEnv = {
      facts,
      service: getService(inv, facts.service),
      pool,
      src,
      dst,
      finalTaken: entry.steps.some((s) => s.step === 'freeze' && s.status === 'done'),
      settleMs: SETTLE_MS,
      timeoutMs: TIMEOUT_MS,
    };
    const record = (step: string, status: 'done' | 'undone' | 'undo-failed', error?: string) =>
      state.journal.step(entry.migrationId, {
        step,
        status,
        atMs: Date.now(),
        ...(error === undefined ? {} : { error }),
      });
    let owed = owedUndos(entry.steps, isUndoable);
    // Not committed in the journal, but the source's switch was settled as committed: the controller died
    // between the two. The destination decides: answering, the move is finished; else it is undone.
    if (owed !== null && facts.deadman) {
      const r = await src.shell.run(deadmanStateArgv(facts.deadman), { timeoutMs: TIMEOUT_MS });
      if (parseDeadmanState(r.stdout) === 'committed' && facts.dstContainerId) {
        const answers = await withDeadline(
          waitUntilAnswers(dst.docker.getContainer(facts.dstContainerId), env.service, 10_000, {
            pool,
            host: dst.host,
          }),
          15_000,
          'the destination',
        ).then(
          () => true,
          () => false,
        );
        if (answers) owed = null;
      }
    }
    if (owed === null) {
      // Forward: the database moves the service (if the controller died before it did), the source goes.
      const dstInfo = await withDeadline(
        dst.docker.getContainer(facts.dstContainerId!).inspect(),
        TIMEOUT_MS,
        `inspecting the service on ${facts.to}`,
      );
      const placement = state.placements.get(facts.user);
      if (placement && placement.host !== facts.to)
        state.transaction(() => {
          state.placements.set(
            {
              ...placement,
              host: facts.to,
              containerId: dstInfo.Id,
              address: dst.host.dataAddress,
              sinceMs: Date.now(),
            },
            'migrated',
          );
          record('commit', 'done');
        });
      await finishOnSource(env);
      record('cleanup', 'done');
      finishRow(
        state,
        entry.migrationId,
        true,
        false,
        'finished by edgectl recover after its controller died',
      );
      state.journal.close(entry.migrationId, 'recovered: finished');
      return { ...base, outcome: 'forward', host: facts.to, steps: ['commit', 'cleanup'], error: null };
    }
    const undone: string[] = [];
    const errors: string[] = [];
    const undo = undoer();
    for (const step of owed) {
      if (!isUndoable(step)) continue;
      try {
        await undo(step, env);
        record(step, 'undone');
        undone.push(step);
      } catch (err) {
        record(step, 'undo-failed', errorMessage(err));
        errors.push(`${step}: ${errorMessage(err)}`);
      }
    }
    if (errors.length > 0)
      return { ...base, outcome: 'failed', host: null, steps: undone, error: errors.join('; ') };
    // The service must answer on the source: the freeze's undo checked that; a migration that never froze
    // it is checked here.
    if (!undone.includes('freeze'))
      await waitUntilAnswers(src.docker.getContainer(facts.srcContainerId), env.service, TIMEOUT_MS, {
        pool,
        host: src.host,
      });
    finishRow(state, entry.migrationId, false, true, 'undone by edgectl recover after its controller died');
    state.journal.close(entry.migrationId, 'recovered: undone');
    return { ...base, outcome: 'back', host: facts.from, steps: undone, error: null };
  } catch (err) {
    return { ...base, outcome: 'failed', host: null, steps: [], error: errorMessage(err) };
  } finally {
    await Promise.all(shells.map((s) => s.close()));
  }
}

function finishRow(state: StateDb, id: number, ok: boolean, rolledBack: boolean, error: string): void {
  const row = state.migrations.get(id);
  if (row && row['finished_ms'] != null) return;
  state.migrations.finish(
    id,
    {
      finishedMs: Date.now(),
      downtimeMs: null,
      totalMs: Date.now() - Number(row?.['started_ms'] ?? Date.now()),
      bytes: 0,
      ok,
      rolledBack,
      error,
    },
    [],
  );
}

/**
 * Refuses to act on a user's service while a migration of it is unfinished (its journal open): deploy or
 * undeploy would remove containers the migration's undo or finish still counts on.
 */
export function refuseWhileMigrating(state: StateDb, user: string): void {
  const open = state.journal.unfinished(user);
  if (open.length === 0) return;
  const e = open[0]!;
  const alive = ownerAlive(e.owner);
  throw new UsageError(
    `a migration of ${user} (${e.migrationId}) is ${alive === true ? `under way (pid ${e.owner.pid})` : 'unfinished'}`,
    {
      hint:
        alive === true
          ? 'wait for it to end'
          : `edgectl recover --user ${user} ends it first (the service then runs on exactly one server)`,
    },
  );
}
