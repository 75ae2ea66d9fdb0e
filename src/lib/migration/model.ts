/**
 * What a migration is and what it reports: strategies, codecs, phases, the request and the result, and
 * where the downtime went. The pipeline (pipeline.ts) runs it.
 */
import type { ProbeResult } from '../mu/probe.js';
import type { DirectedLatency } from '../provision/latency.js';
import type { ShellExecutor } from '../remote/index.js';
import type { Checkpointer } from './checkpointer.js';

export type Strategy = 'delta' | 'full';
export const STRATEGIES: readonly Strategy[] = ['delta', 'full'];
/**
 * How the difference between the two checkpoints is computed (delta phase, at the source, against its own
 * copy of the pre-migration image, which the destination's copy matches file for file), sent (transfer,
 * through the data channel opened before the downtime) and applied (patch, at the destination).
 * pages: edgectl-pages (native/edgectl-pages.c): every 4 KiB block looked up by content among all the
 * earlier image's blocks wherever they moved, a changed block sent as its changed bytes against its
 * likely earlier version; a tenth of rsync's time during the downtime.
 * rsync: rsync's block delta as a batch file (`--only-write-batch`, applied with `--read-batch`).
 * xdelta3: each changed image file encoded with xdelta3: the smallest delta, and the slowest.
 */
export const CODECS = ['pages', 'xdelta3', 'rsync'] as const;
export type Codec = (typeof CODECS)[number];
/** Chosen by measurement (`npm run bench:migrate`, docs/bench/migrate.md). */
export const DEFAULT_CODEC: Codec = 'pages';

export type PhaseName =
  | 'prepare'
  | 'pre-checkpoint'
  | 'pre-transfer'
  | 'checkpoint'
  | 'delta'
  | 'transfer'
  | 'patch'
  | 'restore'
  | 'verify'
  | 'cleanup'
  | 'rollback';

/** The phases of a migration, in order (the same for both codecs). */
export function phasesOf(strategy: Strategy): PhaseName[] {
  if (strategy === 'full') return ['prepare', 'checkpoint', 'transfer', 'restore', 'verify', 'cleanup'];
  return [
    'prepare',
    'pre-checkpoint',
    'pre-transfer',
    'checkpoint',
    'delta',
    'transfer',
    'patch',
    'restore',
    'verify',
    'cleanup',
  ];
}

export interface Phase {
  name: PhaseName;
  /** From the start of the migration (ms). */
  startMs: number;
  durationMs: number;
  /** Bytes the phase produced or moved (null where none). */
  bytes: number | null;
  /** Where a phase's time went, for the phases that wrap Docker's own work (checkpoint, restore). */
  parts?: Record<string, number>;
}

export interface PhaseEvent extends Partial<Phase> {
  name: PhaseName;
  status: 'start' | 'end' | 'fail';
  error?: string;
}

export interface MigrationRequest {
  user: string;
  to: string;
  strategy?: Strategy;
  codec?: Codec;
  /** Measure the downtime with a probe on the user's mu host (default true). */
  probe?: boolean;
  experimentId?: number;
  onPhase?: (e: PhaseEvent) => void;
  /**
   * Awaited right before the final checkpoint, once the probe and the data channel are up: the downtime
   * starts when it resolves (an experiment waits here for its planned migration instant).
   */
  beforeCheckpoint?: () => Promise<void>;
  /** Runs after each phase ends (tests inject faults here). */
  afterPhase?: (name: PhaseName) => Promise<void> | void;
  /**
   * Ctrl+C: checked when each phase ends. Before the final checkpoint, what the destination got is removed;
   * after it, the service is restored on the source (a rollback, as for a failed phase); once the service
   * answered on the destination, the migration is finished (cleanup is not interrupted).
   */
  signal?: AbortSignal;
  /**
   * The downtime's budget (ms, default DEFAULT_DOWNTIME_BUDGET_MS): every call during the downtime has
   * the rest of it as its deadline, and past it the rollback starts by itself. The source's dead-man
   * switch thaws the service DEADMAN_MARGIN_MS after the budget should the controller be gone.
   */
  downtimeBudgetMs?: number;
  /**
   * Called with the source's persistent shell as soon as the preparation has opened it, before anything
   * changes on a host: migrate() takes the user's lock on the source server through it (one command on a
   * shell the migration opens anyway, beside the destination's: no session start of its own).
   */
  onSourceShell?: (shell: ShellExecutor) => Promise<void>;
}

/** The downtime's budget by default: a full migration of a few hundred MB over the lab's cloud link fits. */
export const DEFAULT_DOWNTIME_BUDGET_MS = 60_000;
/** How long after the budget the dead-man switch fires: the controller's own rollback comes first. */
export const DEADMAN_MARGIN_MS = 5_000;

export interface MigrationResult {
  migrationId: number;
  user: string;
  service: string;
  from: string;
  to: string;
  strategy: Strategy;
  codec: Codec | null;
  checkpointer: Checkpointer;
  /** When the migration started (epoch ms, this machine's clock): each phase's startMs counts from here. */
  startedEpochMs: number;
  /** From the start of the final checkpoint until the service answered on the destination, as the probe saw it. */
  downtimeMs: number | null;
  totalMs: number;
  /** Where the downtime went (null when it was not measured). */
  breakdown: DowntimeBreakdown | null;
  /** What crossed the network while the service was down. */
  bytesDuringDowntime: number;
  phases: Phase[];
  probe: ProbeResult | null;
  /** The service's image on the destination: loaded there from the source (in prepare, outside the
   * downtime) or already there. Null for the bundled apps' image (built and imported by edgectl). */
  image: ImageCopy | null;
  /** The service's state check (hosts.yml stateCheck): its output before and after, the same. */
  stateCheck: { argv: string[]; output: string } | null;
  /**
   * A bundled app's own check, when hosts.yml gives no stateCheck (state-check.ts): the digest of its
   * state after task `counter`, from the source's last answer to the downtime probe before the gap, the
   * same on the destination after the restore. `digest` is null when it was not checked, and `note` says why.
   */
  stateDigest: { counter: number | null; digest: string | null; note?: string } | null;
  endpoint: { address: string; port: number };
  /** The source-destination link both ways: its latency and whether (and how) it was emulated. */
  latency: DirectedLatency[];
}

/**
 * Where the downtime went (ms), from the phases after the final checkpoint: CRIU's own dump and restore
 * (from its logs; null where unknown), the container runtime around them (runc or Docker, and Docker's
 * restore path), the codec's work at both ends (delta and patch), the transfer, the first answer's own
 * time on the user's path (the probe's fresh connection and request to the service once it was back;
 * null where the probe did not say), and the rest: edgectl's own (the writable layer, placing the
 * images, commands, the host learning the container's MAC). Null without a measured downtime.
 */
export interface DowntimeBreakdown {
  criuDumpMs: number | null;
  criuRestoreMs: number | null;
  runtimeMs: number;
  deltaMs: number;
  transferMs: number;
  pathMs: number | null;
  edgectlMs: number;
}

/**
 * The first answer's own time on the user's path: its connection's round trip and its request's, taken
 * as twice the request's (which the probe timed once connected, the service up), and at most the whole
 * attempt (whose connection may also have waited for the service). Null where the probe did not time it.
 */
export function pathOf(probe: ProbeResult | null): number | null {
  const rtt = probe?.roundTripMs;
  const answer = probe?.answerMs;
  if (rtt == null || answer == null) return null;
  return Math.min(answer, 2 * rtt);
}

export function downtimeBreakdown(
  phases: readonly Phase[],
  downtimeMs: number | null,
  pathMs: number | null = null,
): DowntimeBreakdown | null {
  if (downtimeMs === null) return null;
  const at = phases.findIndex((p) => p.name === 'checkpoint');
  if (at < 0) return null;
  const after = phases.slice(at);
  const phase = (n: PhaseName) => after.find((p) => p.name === n);
  const ckpt = phase('checkpoint')?.parts ?? {};
  const restore = phase('restore')?.parts ?? {};
  const criuDumpMs = ckpt['criu'] ?? null;
  const criuRestoreMs = restore['criu'] ?? null;
  const runtimeMs = (ckpt['runtime'] ?? ckpt['docker'] ?? 0) + (restore['runtime'] ?? restore['docker'] ?? 0);
  const deltaMs = (phase('delta')?.durationMs ?? 0) + (phase('patch')?.durationMs ?? 0);
  const transferMs = phase('transfer')?.durationMs ?? 0;
  const edgectlMs = Math.max(
    0,
    downtimeMs - (criuDumpMs ?? 0) - (criuRestoreMs ?? 0) - runtimeMs - deltaMs - transferMs - (pathMs ?? 0),
  );
  return { criuDumpMs, criuRestoreMs, runtimeMs, deltaMs, transferMs, pathMs, edgectlMs };
}

export interface ImageCopy {
  name: string;
  id: string;
  loaded: boolean;
  bytes: number;
  ms: number;
}
