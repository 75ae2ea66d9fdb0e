/**
 * report.md's sections from decisions.csv, pure: how well the coordinated pairs were kept, how far the
 * planner's estimates were from what was measured, and how fast the migrations reacted and transferred.
 * Results written before decisions were recorded have none: each section says so.
 */
import { median } from '../util/stats.js';
import { paperOrder } from './planner-order.js';
import type { DecisionRow } from './report-data.js';
import { orderServices } from './report-specs.js';
import { ms, pct, signedDuration, table } from './report-text.js';
import { mean } from './stats.js';

export const NOT_RECORDED =
  'Not recorded in this run: the results have no decisions.csv (written by an older edgectl).';

const nums = (values: readonly (number | null)[]) => values.filter((v): v is number => v !== null);
const max = (values: readonly number[]) => (values.length === 0 ? null : Math.max(...values));

/** The groups of rows by service and planner, in the report's order. */
function groups(
  decisions: readonly DecisionRow[],
): { service: string; planner: string; rows: DecisionRow[] }[] {
  const services = orderServices(decisions.map((d) => d.service));
  return services.flatMap((service) => {
    const mine = decisions.filter((d) => d.service === service);
    return paperOrder(mine.map((d) => d.planner)).map((planner) => ({
      service,
      planner,
      rows: mine.filter((d) => d.planner === planner),
    }));
  });
}

export interface CoordinationRow {
  service: string;
  planner: string;
  /** Coordinated decisions taken (pairs of migration and handover planned). */
  planned: number;
  /** Carried out (status done). */
  done: number;
  /** Pairs whose handover fell inside the migration's outage, of those where it is known. */
  inside: number;
  insideKnown: number;
  /** Actual - planned handover instant (ms). */
  lateMedianMs: number | null;
  lateMaxMs: number | null;
  lateN: number;
  dropped: number;
  failed: number;
}

export function coordinationTable(decisions: readonly DecisionRow[]): CoordinationRow[] {
  return groups(decisions.filter((d) => d.kind === 'coordinated' && d.status !== 'rejected')).map(
    ({ service, planner, rows }) => {
      const late = nums(rows.map((d) => d.handoverLateMs));
      return {
        service,
        planner,
        planned: rows.length,
        done: rows.filter((d) => d.status === 'done').length,
        inside: rows.filter((d) => d.handoverInside === true).length,
        insideKnown: rows.filter((d) => d.handoverInside !== null).length,
        lateMedianMs: median(late),
        lateMaxMs: max(late),
        lateN: late.length,
        dropped: rows.filter((d) => d.status === 'dropped').length,
        failed: rows.filter((d) => d.status === 'failed').length,
      };
    },
  );
}

export interface PredictionRow {
  service: string;
  planner: string;
  quantity: 'T_mig' | 'T_ho' | 'T_pre';
  n: number;
  meanEstMs: number | null;
  meanMeasMs: number | null;
  /** Mean of estimate - measured (positive: the planner expected longer). */
  meanErrorMs: number | null;
  meanAbsErrorMs: number | null;
}

/** The planner's estimates against what was measured, over the decisions that have both. */
export function predictionTable(decisions: readonly DecisionRow[]): PredictionRow[] {
  const pick: [PredictionRow['quantity'], (d: DecisionRow) => [number | null, number | null]][] = [
    ['T_mig', (d) => [d.estMigMs, d.measMigMs]],
    ['T_ho', (d) => [d.estHoMs, d.measHoMs]],
    ['T_pre', (d) => [d.estPreMs, d.measPreMs]],
  ];
  return groups(decisions).flatMap(({ service, planner, rows }) =>
    pick.flatMap(([quantity, f]) => {
      const pairs = rows.map(f).filter((p): p is [number, number] => p[0] !== null && p[1] !== null);
      if (pairs.length === 0) return [];
      return [
        {
          service,
          planner,
          quantity,
          n: pairs.length,
          meanEstMs: mean(pairs.map(([e]) => e)),
          meanMeasMs: mean(pairs.map(([, m]) => m)),
          meanErrorMs: mean(pairs.map(([e, m]) => e - m)),
          meanAbsErrorMs: mean(pairs.map(([e, m]) => Math.abs(e - m))),
        },
      ];
    }),
  );
}

export interface MigrationSpeedRow {
  service: string;
  planner: string;
  /** Reactive decisions: the handover (link down) to the final checkpoint's start. */
  reactionN: number;
  reactionMedianMs: number | null;
  reactionMaxMs: number | null;
  /** Pre-transfers with a throughput: its median (MB/s) and the median of its share of the link's bandwidth. */
  preN: number;
  preMedianMBps: number | null;
  preMedianOfLink: number | null;
}

/** The reaction delay of reactive migrations and the pre-transfer throughput of every planner's migrations. */
export function migrationSpeedTable(decisions: readonly DecisionRow[]): MigrationSpeedRow[] {
  return groups(decisions)
    .map(({ service, planner, rows }) => {
      const reaction = nums(rows.filter((d) => d.kind === 'reactive').map((d) => d.reactionMs));
      const pre = nums(rows.map((d) => d.preMbps));
      const ofLink = nums(
        rows.map((d) =>
          d.preMbps === null || d.linkMbps === null || d.linkMbps <= 0 ? null : d.preMbps / d.linkMbps,
        ),
      );
      const mbps = median(pre);
      return {
        service,
        planner,
        reactionN: reaction.length,
        reactionMedianMs: median(reaction),
        reactionMaxMs: max(reaction),
        preN: pre.length,
        // Mbit/s / 8 = MB/s
        preMedianMBps: mbps === null ? null : mbps / 8,
        preMedianOfLink: median(ofLink),
      };
    })
    .filter((r) => r.reactionN > 0 || r.preN > 0);
}

const signed = (v: number | null) => (v === null ? '–' : signedDuration(v));

/** The three sections' lines (coordination, prediction errors, migration speed). */
export function decisionSections(decisions: readonly DecisionRow[] | null): string[] {
  const out: string[] = [];
  out.push('## Coordination', '');
  if (decisions === null) out.push(NOT_RECORDED, '');
  else {
    const rows = coordinationTable(decisions);
    if (rows.length === 0)
      out.push('No coordinated decision in these runs (no orchestrated run planned a pair).', '');
    else {
      out.push(
        "Each coordinated decision plans a migration and a handover together (decisions.csv, kind `coordinated`). Inside: the handover's radio outage (link down to link up) lay inside the migration's outage as the probe saw it, within 50 ms at either end (the probe's resolution). Lateness: actual − planned handover instant.",
        '',
        table(
          [
            'Service',
            'Planner',
            'Pairs planned',
            'Carried out',
            'Handover inside the outage',
            'Lateness median',
            'Lateness max',
            'Dropped',
            'Failed',
          ],
          rows.map((r) => [
            r.service,
            r.planner,
            String(r.planned),
            String(r.done),
            `${r.inside} of ${r.insideKnown}`,
            signed(r.lateMedianMs),
            signed(r.lateMaxMs),
            String(r.dropped),
            String(r.failed),
          ]),
          ['---', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:'],
        ),
        '',
      );
    }
    const problems = decisions.filter((d) => d.status === 'dropped' || d.status === 'failed');
    if (problems.length > 0) {
      out.push('Decisions dropped or failed:', '');
      for (const d of problems)
        out.push(
          `- ${d.run}, ${d.user}${d.decidedTMs === null ? '' : ` (decided at ${(d.decidedTMs / 1000).toFixed(1)} s)`}: ${d.kind}, ${d.status}${d.error ? `: ${d.error}` : ''}`,
        );
      out.push('');
    }
    // An outside planner's failed rounds: one row per user each; summed per run, each reason once.
    const rejected = new Map<string, { rows: number; reasons: Set<string> }>();
    for (const d of decisions)
      if (d.status === 'rejected') {
        const r = rejected.get(d.run) ?? { rows: 0, reasons: new Set<string>() };
        r.rows++;
        if (d.error) r.reasons.add(d.error);
        rejected.set(d.run, r);
      }
    if (rejected.size > 0) {
      out.push('Rounds an outside planner failed (nobody moved; user-rounds per run):', '');
      for (const [run, r] of rejected)
        out.push(`- ${run}: ${r.rows}: ${[...r.reasons].slice(0, 3).join('; ')}`);
      out.push('');
    }
  }

  out.push("## The planner's prediction errors", '');
  if (decisions === null) out.push(NOT_RECORDED, '');
  else {
    const rows = predictionTable(decisions);
    if (rows.length === 0) out.push('No decision carries both an estimate and a measurement.', '');
    else
      out.push(
        "The planner's estimates against what was measured, over the decisions that have both: T_mig the migration's outage (probe), T_ho the handover's radio outage (link down to link up), T_pre the pre-checkpoint and pre-transfer. Error = estimate − measured (positive: the planner expected longer).",
        '',
        table(
          [
            'Service',
            'Planner',
            'Quantity',
            'n',
            'Mean estimate (ms)',
            'Mean measured (ms)',
            'Mean error (ms)',
            'Mean absolute error (ms)',
          ],
          rows.map((r) => [
            r.service,
            r.planner,
            r.quantity,
            String(r.n),
            ms(r.meanEstMs, 0),
            ms(r.meanMeasMs, 0),
            r.meanErrorMs === null
              ? '–'
              : `${r.meanErrorMs > 0 ? '+' : r.meanErrorMs < 0 ? '−' : ''}${Math.abs(r.meanErrorMs).toFixed(0)}`,
            ms(r.meanAbsErrorMs, 0),
          ]),
          ['---', '---', '---', '---:', '---:', '---:', '---:', '---:'],
        ),
        '',
      );
  }

  out.push('## Reaction and pre-transfer speed of the migrations', '');
  if (decisions === null) out.push(NOT_RECORDED, '');
  else {
    const rows = migrationSpeedTable(decisions);
    if (rows.length === 0)
      out.push('No migration recorded a reaction delay or a pre-transfer throughput.', '');
    else
      out.push(
        "Reaction delay (reactive migrations): the handover's link-down instant to the final checkpoint's start. Pre-transfer throughput (every planner's migrations): the pre-checkpoint's bytes over the pre-transfer's duration, and its share of the link's bandwidth (medians).",
        '',
        table(
          [
            'Service',
            'Planner',
            'Reactions',
            'Reaction median',
            'Reaction max',
            'Pre-transfers',
            'Throughput (MB/s)',
            'Of the link',
          ],
          rows.map((r) => [
            r.service,
            r.planner,
            String(r.reactionN),
            r.reactionMedianMs === null ? '–' : `${r.reactionMedianMs.toFixed(0)} ms`,
            r.reactionMaxMs === null ? '–' : `${r.reactionMaxMs.toFixed(0)} ms`,
            String(r.preN),
            r.preMedianMBps === null ? '–' : r.preMedianMBps.toFixed(1),
            r.preMedianOfLink === null ? '–' : pct(r.preMedianOfLink),
          ]),
          ['---', '---', '---:', '---:', '---:', '---:', '---:', '---:'],
        ),
        '',
      );
  }
  return out;
}
