/**
 * Where the downtime comes from: the outages per planner by cause (handover, migration, both overlapping,
 * other), and the migration's phases (median duration of each phase per planner). Pure.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RunMeta } from '../format.js';
import { paperOrder } from '../planner-order.js';
import type { HandoverRow, MigrationPhaseRow, OutageRow, TaskRow } from '../report-data.js';
import {
  byServiceThenPlanner,
  categoryScale,
  median,
  OUTAGE_CATEGORIES,
  type OutageCategory,
  orderServices,
  outageSpans,
  perService,
  plural,
  round,
} from './common.js';

/** One stacked part of the outages-by-cause figure. */
export interface CauseBar {
  service: string;
  planner: string;
  category: OutageCategory;
  /** Milliseconds out in this category per handover (or per run: `per`). */
  ms: number;
  runs: number;
  handovers: number;
}

export interface CauseBars {
  /** 'handover' when every planner drawn had a handover (the total over runs / their handovers); else 'run'. */
  per: 'handover' | 'run';
  bars: CauseBar[];
}

/**
 * The user's time out per planner and cause, each instant in one category (common.ts outageSpans), over
 * every run (all repetitions, all users): per handover when every planner had one, else the mean per run.
 * Empty when no run had an outage.
 */
export function outageCauses(input: {
  runs: readonly RunMeta[];
  tasks: readonly TaskRow[];
  handovers: readonly HandoverRow[];
  outages: readonly OutageRow[];
}): CauseBars {
  if (input.outages.length === 0) return { per: 'run', bars: [] };
  const groups = new Map<string, { service: string; planner: string; runs: RunMeta[] }>();
  for (const r of input.runs) {
    const key = `${r.service}\u0000${r.planner}`;
    const g = groups.get(key) ?? { service: r.service, planner: r.planner, runs: [] };
    g.runs.push(r);
    groups.set(key, g);
  }
  const handoversOf = (run: string) => input.handovers.filter((h) => h.run === run).length;
  const per = [...groups.values()].every((g) => g.runs.some((r) => handoversOf(r.run) > 0))
    ? 'handover'
    : 'run';
  const services = orderServices(
    [...groups.values()].map((g) => g.service),
    input.runs,
  );
  const planners = paperOrder([...groups.values()].map((g) => g.planner));
  const bars: CauseBar[] = [];
  for (const service of services)
    for (const planner of planners) {
      const g = groups.get(`${service}\u0000${planner}`);
      if (!g) continue;
      const total = new Map<OutageCategory, number>();
      let handovers = 0;
      for (const run of g.runs) {
        handovers += handoversOf(run.run);
        const mine = input.outages.filter((o) => o.run === run.run);
        const endMs = Math.max(run.endedEpochMs - run.startedEpochMs, ...mine.map((o) => o.tMs));
        for (const user of new Set(mine.map((o) => o.user)))
          for (const s of outageSpans(
            mine.filter((o) => o.user === user),
            endMs,
          ))
            total.set(s.category, (total.get(s.category) ?? 0) + (s.toMs - s.fromMs));
      }
      const div = per === 'handover' ? handovers : g.runs.length;
      for (const category of OUTAGE_CATEGORIES) {
        const ms = total.get(category);
        if (ms === undefined || div === 0) continue;
        bars.push({ service, planner, category, ms: round(ms / div, 1), runs: g.runs.length, handovers });
      }
      if (![...total.keys()].length)
        bars.push({ service, planner, category: 'handover', ms: 0, runs: g.runs.length, handovers });
    }
  return { per, bars };
}

export function causesCaption(c: CauseBars): string {
  const seen = new Map<string, CauseBar>();
  for (const b of c.bars) seen.set(`${b.service} ${b.planner}`, b);
  const counts = [...seen.values()].map(
    (b) =>
      `${b.planner}${new Set(c.bars.map((x) => x.service)).size > 1 ? ` on ${b.service}` : ''}: ${plural(b.runs, 'run')}, ${plural(b.handovers, 'handover')}`,
  );
  return (
    `Outages by cause: the time the user was out, ${c.per === 'handover' ? 'per handover (the total over all runs and repetitions divided by their handovers)' : 'per run (mean over runs and repetitions)'}, ` +
    'split by what it was out for: a handover alone, a migration alone, both overlapping (counted once), or ' +
    `anything else. Planners in the paper's order (${counts.join('; ')}).`
  );
}

export function causesSpec(c: CauseBars): TopLevelSpec {
  const services = orderServices(c.bars.map((b) => b.service));
  const planners = paperOrder(c.bars.map((b) => b.planner));
  const categories = [...new Set(c.bars.map((b) => b.category))];
  const order = (cat: OutageCategory) => OUTAGE_CATEGORIES.indexOf(cat);
  const values = c.bars.map((b) => ({ ...b, order: order(b.category) }));
  const unit = `Time out per ${c.per} (ms)`;
  const layer = {
    mark: { type: 'bar', width: { band: 0.7 } },
    encoding: {
      x: { field: 'planner', type: 'nominal', title: 'Planner', sort: planners, axis: { labelAngle: 0 } },
      y: { field: 'ms', type: 'quantitative', title: unit, stack: 'zero' },
      fill: {
        field: 'category',
        type: 'nominal',
        scale: categoryScale(categories),
        title: 'Out for',
        legend: { orient: 'top', symbolType: 'square' },
      },
      stroke: { value: '#777777' },
      strokeWidth: { value: 0.5 },
      order: { field: 'order', type: 'quantitative' },
      tooltip: [
        { field: 'planner', type: 'nominal' },
        { field: 'category', type: 'nominal', title: 'out for' },
        { field: 'ms', type: 'quantitative', title: `ms per ${c.per}`, format: '.1f' },
        { field: 'runs', type: 'quantitative' },
        { field: 'handovers', type: 'quantitative' },
      ],
    },
  };
  const title = {
    text: 'Outages by cause',
    subtitle: `The user's time out per ${c.per}, each instant counted once`,
  };
  return perService({
    services,
    title,
    values,
    view: layer,
    single: { width: { step: 80 }, height: 260 },
    panel: { width: { step: 70 }, height: 260 },
    facet: 'column',
    independent: 'y',
  });
}

// ---------------------------------------------------------------------------------------------------------
// Migration phases

export interface PhaseBar {
  service: string;
  planner: string;
  phase: string;
  /** The phase's order in a migration (the median of its seq). */
  seq: number;
  /** Median duration over the migrations that had the phase. */
  medianMs: number;
  /** Migrations that had the phase / all of the planner's migrations with phases. */
  n: number;
  migrations: number;
}

/** Per service, planner and phase: the median duration over the migrations that went through the phase. */
export function phaseBars(phases: readonly MigrationPhaseRow[]): PhaseBar[] {
  const groups = new Map<string, MigrationPhaseRow[]>();
  for (const p of phases) {
    const key = `${p.service}\u0000${p.planner}`;
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  const services = orderServices(phases.map((p) => p.service));
  const planners = paperOrder(phases.map((p) => p.planner));
  const bars: PhaseBar[] = [];
  for (const service of services)
    for (const planner of planners) {
      const rows = groups.get(`${service}\u0000${planner}`);
      if (!rows) continue;
      const migrations = new Set(rows.map((r) => `${r.run}\u0000${r.migration}`)).size;
      for (const phase of new Set(rows.map((r) => r.phase))) {
        const mine = rows.filter((r) => r.phase === phase);
        // A phase repeated within one migration (a retried transfer) counts as its sum.
        const per = new Map<string, number>();
        for (const r of mine)
          per.set(
            `${r.run}\u0000${r.migration}`,
            (per.get(`${r.run}\u0000${r.migration}`) ?? 0) + r.durationMs,
          );
        bars.push({
          service,
          planner,
          phase,
          seq: median(mine.map((r) => r.seq)),
          medianMs: round(median([...per.values()]), 1),
          n: per.size,
          migrations,
        });
      }
    }
  const byWho = byServiceThenPlanner(services, planners);
  return bars.sort((a, b) => byWho(a, b) || a.seq - b.seq);
}

export function phasesCaption(bars: readonly PhaseBar[]): string {
  const seen = new Map<string, PhaseBar>();
  for (const b of bars) seen.set(`${b.service} ${b.planner}`, b);
  const counts = [...seen.values()].map(
    (b) =>
      `${b.planner}${new Set(bars.map((x) => x.service)).size > 1 ? ` on ${b.service}` : ''} ${plural(b.migrations, 'migration')}`,
  );
  return (
    'Migration phases: per planner, the median duration of each phase of its migrations (migration_phases.csv, ' +
    `all runs and repetitions: ${counts.join(', ')}), stacked in the order the phases run. A phase's median is ` +
    'over the migrations that went through it, so the stack is not the median migration time, and phases ' +
    'before the final checkpoint (the pre-migration) run while the service still answers.'
  );
}

export function phasesSpec(bars: readonly PhaseBar[]): TopLevelSpec {
  const services = orderServices(bars.map((b) => b.service));
  const planners = paperOrder(bars.map((b) => b.planner));
  const phases = [...new Map(bars.map((b) => [b.phase, b.seq])).entries()]
    .sort((a, b) => a[1] - b[1])
    .map(([p]) => p);
  const values = bars.map((b) => ({ ...b, order: phases.indexOf(b.phase) }));
  const layer = {
    mark: { type: 'bar', height: { band: 0.7 } },
    encoding: {
      y: { field: 'planner', type: 'nominal', title: 'Planner', sort: planners },
      x: { field: 'medianMs', type: 'quantitative', title: 'Median duration (ms)', stack: 'zero' },
      color: {
        field: 'phase',
        type: 'nominal',
        title: 'Phase',
        sort: phases,
        scale: { domain: phases, scheme: 'tableau10' },
        legend: { orient: 'right' },
      },
      order: { field: 'order', type: 'quantitative' },
      tooltip: [
        { field: 'planner', type: 'nominal' },
        { field: 'phase', type: 'nominal' },
        { field: 'medianMs', type: 'quantitative', title: 'median (ms)', format: '.1f' },
        { field: 'n', type: 'quantitative', title: 'migrations with it' },
      ],
    },
  };
  const title = { text: 'Migration phases', subtitle: 'Median duration of each phase per planner' };
  return perService({
    services,
    title,
    values,
    view: layer,
    single: { width: 520, height: { step: 34 } },
    panel: { width: 520, height: { step: 30 } },
    facet: 'row',
    independent: 'x',
  });
}
