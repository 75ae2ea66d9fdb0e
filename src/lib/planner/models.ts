/**
 * The estimation models of the paper (section IV), pure: the E2E delay of a user at a base station and a
 * server (eq. 4), the pre-migration and migration times of its container between two servers (eq. 5), the
 * downtime of a move, and the fit of psi_s and rho_s from a server's recorded checkpoints and restores.
 * Times are in ms, sizes in bytes, bandwidths in bit/s, C_s is a server's CPU benchmark score.
 */
import { median } from '../util/stats.js';

/** CPU score of a server nobody measured: the planner then takes the servers as equal. */
export const NOMINAL_SCORE = 1000;
/**
 * Before a server has history: a migration's checkpoint of a 78 MB image took 0.25 s (runc and CRIU) and
 * its restore phase 0.45 s (Docker's restore with the pages linked) on the lab (bench:migrate,
 * docs/bench/migrate.md), taken as a server scoring 3800 (host-setup.md's machine). psi = ms * C / bytes;
 * rho = ms * C / (S_D + S_pre + S_delta).
 */
export const PRIOR_PSI = (250 * 3800) / 78e6;
export const PRIOR_RHO = (450 * 3800) / (2 * 78e6 + 0.1e6);

export interface MigrationSample {
  kind: 'checkpoint' | 'restore';
  /** S_D for a checkpoint; S_D + S_pre + S_delta for a restore. */
  bytes: number;
  ms: number;
  /** The CPU score of the server it ran on. */
  score: number;
}

export interface MigrationFit {
  psi: number;
  rho: number;
  /** 'fitted from N checkpoints, M restores', or 'prior' for either. */
  source: string;
}

/**
 * psi_s and rho_s of one server: the median of ms * C / bytes over its recorded checkpoints (psi) and
 * restores (rho); the priors where it has none.
 */
export function fitMigrationModel(samples: readonly MigrationSample[], _score: number | null): MigrationFit {
  const ratio = (kind: MigrationSample['kind']) =>
    samples.filter((s) => s.kind === kind && s.bytes > 0 && s.ms > 0).map((s) => (s.ms * s.score) / s.bytes);
  const psis = ratio('checkpoint');
  const rhos = ratio('restore');
  const psi = median(psis);
  const rho = median(rhos);
  const parts = [
    psi === null ? 'psi prior' : `psi from ${psis.length} checkpoints`,
    rho === null ? 'rho prior' : `rho from ${rhos.length} restores`,
  ];
  return { psi: psi ?? PRIOR_PSI, rho: rho ?? PRIOR_RHO, source: parts.join(', ') };
}

export interface E2eInputs {
  /** The user's processing time measured at its current server (ms), null when unknown (counts 0). */
  procMs: number | null;
  /** C_s of its current server and C_s' of the candidate. */
  scoreNow: number;
  scoreThere: number;
  /** S_u, bytes per task. */
  taskBytes: number;
  /** B_ub': the radio rate its RSSI to the candidate base station allows (bit/s). */
  radioBps: number;
  /** B_b's': the wired bandwidth between the candidate base station and server (bit/s). */
  wiredBps: number;
  /** RTT_b's' (ms). */
  rttMs: number;
}

export interface E2eEstimate {
  procMs: number;
  txMs: number;
  propMs: number;
  totalMs: number;
}

/**
 * Eq. 4's terms for one candidate: processing scaled by the CPU scores, transmission of the task over the
 * narrower of the radio and wired bandwidths (the result's own is neglected, as in the paper), and the
 * wired round trip. Queueing is assumed unchanged by a move and left out. Infinity when the radio gives no
 * rate (the user cannot decode the base station).
 */
export function e2eEstimate(x: E2eInputs): E2eEstimate {
  const procMs = (x.procMs ?? 0) * (x.scoreNow / x.scoreThere);
  const bps = Math.min(x.radioBps, x.wiredBps);
  const txMs = bps > 0 ? ((x.taskBytes * 8) / bps) * 1000 : Number.POSITIVE_INFINITY;
  return { procMs, txMs, propMs: x.rttMs, totalMs: procMs + txMs + x.rttMs };
}

export interface MigrationInputs {
  /**
   * What a real migration spends before its first checkpoint and between pre-migration and the final
   * checkpoint (connections, the data channel, the probe): not in the paper's eq. 5, but it must fit
   * before the migration instant too. 0 to follow the paper exactly.
   */
  setupMs?: number;
  /** S_D, S_pre, S_delta (bytes). */
  imageBytes: number;
  preBytes: number;
  deltaBytes: number;
  /** psi_s and C_s of the source, rho_s' and C_s' of the destination. */
  psi: number;
  scoreFrom: number;
  rho: number;
  scoreTo: number;
  /** B_ss' (bit/s). */
  bandwidthBps: number;
  /** RTT_ss' (ms), and how many round trips a transfer costs beyond its bytes (connection, TCP's ramp). */
  rttMs?: number;
  transferRtts?: number;
}

export interface MigrationEstimate {
  setupMs: number;
  chkptMs: number;
  preTransferMs: number;
  transferMs: number;
  restoreMs: number;
  /** T_pre-mig = setup + T_chkpt + S_pre / B_ss' + k RTT_ss' (the service runs on). */
  preMigMs: number;
  /** T_mig = T_chkpt + S_delta / B_ss' + T_restore (the service is down). */
  migMs: number;
  /** Where migMs and preMigMs come from when not from eq. 5 alone (measured.ts). */
  migSource?: string;
  preSource?: string;
}

/** Eq. 5. */
export function migrationEstimate(x: MigrationInputs): MigrationEstimate {
  const chkptMs = (x.psi * x.imageBytes) / x.scoreFrom;
  const seconds = (bytes: number) => ((bytes * 8) / x.bandwidthBps) * 1000;
  const preTransferMs = seconds(x.preBytes) + (x.transferRtts ?? 0) * (x.rttMs ?? 0);
  const transferMs = seconds(x.deltaBytes);
  const restoreMs = (x.rho * (x.imageBytes + x.preBytes + x.deltaBytes)) / x.scoreTo;
  const setupMs = x.setupMs ?? 0;
  return {
    setupMs,
    chkptMs,
    preTransferMs,
    transferMs,
    restoreMs,
    preMigMs: setupMs + chkptMs + preTransferMs,
    migMs: chkptMs + transferMs + restoreMs,
  };
}

/**
 * The estimated downtime DT of a move: max(T_mig, T_ho) when both the server and the base station change
 * (the two outages coordinated into one), T_mig when only the server changes, T_ho when only the base
 * station changes, 0 otherwise.
 */
export function downtimeMs(serverChanges: boolean, bsChanges: boolean, migMs: number, hoMs: number): number {
  if (serverChanges && bsChanges) return Math.max(migMs, hoMs);
  if (serverChanges) return migMs;
  if (bsChanges) return hoMs;
  return 0;
}
