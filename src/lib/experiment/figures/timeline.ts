/**
 * A run's timeline: where the user was (position, or the serving base station), which server answered,
 * the E2E delay of every task (log scale), the outages shaded by cause, the handovers and migrations
 * marked. One block per run, stacked. Pure.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { RunMeta } from '../format.js';
import { paperOrder } from '../planner-order.js';
import type { HandoverRow, MigrationRow, OutageRow, PositionRow, TaskRow } from '../report-data.js';
import { baseConfig, outageShading, outageSpans, plannerScale, round, SCHEMA } from './common.js';

export interface TimelineInput {
  runs: readonly RunMeta[];
  tasks: readonly TaskRow[];
  handovers: readonly HandoverRow[];
  outages: readonly OutageRow[];
  migrations: readonly MigrationRow[];
  positions: readonly PositionRow[] | null;
}

export interface TimelineRun {
  run: string;
  planner: string;
  service: string;
  user: string;
  durationS: number;
  /** Serving base station and server over time (s); `source` says where they were read from. */
  lanes: { lane: 'base station' | 'server'; name: string; fromS: number; toS: number }[];
  laneSources: { bs: 'tasks' | 'handovers' | null; server: 'tasks' | 'migrations' | null };
  positions: { s: number; xM: number }[];
  tasks: { s: number; e2eMs: number | null; ok: boolean }[];
  outages: { fromS: number; toS: number; category: string }[];
  events: { s: number; event: 'handover' | 'migration'; label: string }[];
}

/** Consecutive stretches of the same value: [from, next change). */
function stretches(points: readonly { tMs: number; v: string }[], endMs: number) {
  const out: { name: string; fromS: number; toS: number }[] = [];
  for (const [i, p] of points.entries()) {
    const last = out[out.length - 1];
    const next = points[i + 1]?.tMs ?? endMs;
    if (last && last.name === p.v) last.toS = round(next / 1000, 3);
    else
      out.push({
        name: p.v,
        fromS: round((last ? p.tMs : Math.min(p.tMs, 0)) / 1000, 3),
        toS: round(next / 1000, 3),
      });
  }
  return out;
}

/** The timeline of one run's user (the first user when several; `user` picks another). */
export function timelineRun(input: TimelineInput, runName: string, user?: string): TimelineRun | null {
  const run = input.runs.find((r) => r.run === runName);
  if (!run) return null;
  const tasksAll = input.tasks.filter((t) => t.run === runName);
  const who = user ?? [...new Set(tasksAll.map((t) => t.user))].sort()[0];
  if (who === undefined) return null;
  const tasks = tasksAll.filter((t) => t.user === who).sort((a, b) => a.tMs - b.tMs);
  const handovers = input.handovers
    .filter((h) => h.run === runName && h.user === who)
    .sort((a, b) => a.tMs - b.tMs);
  const migrations = input.migrations
    .filter((m) => m.run === runName && m.user === who)
    .sort((a, b) => a.tMs - b.tMs);
  const outagesRows = input.outages.filter((o) => o.run === runName && o.user === who);
  const endMs = Math.max(run.endedEpochMs - run.startedEpochMs, ...tasks.map((t) => t.tMs), 0);
  const withBs = tasks.filter((t) => t.bs !== null);
  const bsPoints =
    withBs.length > 0
      ? withBs.map((t) => ({ tMs: t.tMs, v: t.bs as string }))
      : handovers.length > 0
        ? [
            ...(handovers[0]?.fromBs ? [{ tMs: 0, v: handovers[0].fromBs }] : []),
            ...handovers.map((h) => ({ tMs: h.tMs, v: h.toBs })),
          ]
        : [];
  const withHost = tasks.filter((t) => t.host !== null);
  const moved = migrations.filter((m) => m.ok !== false && !m.rolledBack);
  const hostPoints =
    withHost.length > 0
      ? withHost.map((t) => ({ tMs: t.tMs, v: t.host as string }))
      : moved.length > 0
        ? [
            { tMs: 0, v: moved[0]?.from ?? '?' },
            ...moved.map((m) => ({ tMs: m.tMs + (m.totalMs ?? 0), v: m.to })),
          ]
        : [];
  return {
    run: run.run,
    planner: run.planner,
    service: run.service,
    user: who,
    durationS: round(endMs / 1000, 3),
    lanes: [
      ...stretches(bsPoints, endMs).map((s) => ({ lane: 'base station' as const, ...s })),
      ...stretches(hostPoints, endMs).map((s) => ({ lane: 'server' as const, ...s })),
    ],
    laneSources: {
      bs: withBs.length > 0 ? 'tasks' : bsPoints.length > 0 ? 'handovers' : null,
      server: withHost.length > 0 ? 'tasks' : hostPoints.length > 0 ? 'migrations' : null,
    },
    positions: (input.positions ?? [])
      .filter((p) => p.run === runName && p.user === who)
      .sort((a, b) => a.tMs - b.tMs)
      .map((p) => ({ s: round(p.tMs / 1000, 3), xM: round(p.xM, 2) })),
    // Tens of thousands of points in a long run: 10 ms and 0.01 ms are below what the figure shows.
    tasks: tasks.map((t) => ({
      s: round(t.tMs / 1000, 2),
      e2eMs: t.ok && t.e2eMs !== null ? round(t.e2eMs, 2) : null,
      ok: t.ok && t.e2eMs !== null,
    })),
    outages: outageSpans(outagesRows, endMs).map((o) => ({
      fromS: round(o.fromMs / 1000, 3),
      toS: round(o.toMs / 1000, 3),
      category: o.category,
    })),
    events: [
      ...handovers.map((h) => ({
        s: round(h.tMs / 1000, 3),
        event: 'handover' as const,
        label: `${h.fromBs ?? '?'} → ${h.toBs}`,
      })),
      ...migrations.map((m) => ({
        s: round(m.tMs / 1000, 3),
        event: 'migration' as const,
        label: `${m.from} → ${m.to}${m.ok === false ? ' (failed)' : ''}`,
      })),
    ],
  };
}

/** The runs drawn by default: the first repetition of each planner on `service`, in the paper's order. */
export function defaultTimelineRuns(runs: readonly RunMeta[], service: string): string[] {
  const mine = runs.filter((r) => r.service === service);
  return paperOrder(mine.map((r) => r.planner)).flatMap((p) => {
    const first = mine.filter((r) => r.planner === p).sort((a, b) => a.repeat - b.repeat)[0];
    return first ? [first.run] : [];
  });
}

export function timelineCaption(runs: readonly TimelineRun[]): string {
  const names = runs.map((r) => `${r.run} (${r.user}, ${r.tasks.length} tasks)`).join(', ');
  const src = (r: TimelineRun) =>
    `${r.laneSources.bs === 'tasks' ? 'base station from tasks.csv' : r.laneSources.bs === 'handovers' ? 'base station from handovers.csv' : 'no base station recorded'}, ` +
    `${r.laneSources.server === 'tasks' ? 'server from tasks.csv' : r.laneSources.server === 'migrations' ? 'server from migrations.csv' : 'no server recorded'}`;
  const sources = [...new Set(runs.map(src))].join('; ');
  return (
    `Run timeline of ${names}: per run, ${runs.some((r) => r.positions.length > 0) ? "the user's position x (positions.csv), " : ''}` +
    `the serving base station and server (${sources}), and the E2E delay of every answered task (log scale; tasks that would fall on the same pixel drawn once), ` +
    'with the outages shaded by cause (at least 2 px wide, however short) and the handovers (dashed) and migrations (dotted) marked.'
  );
}

const WIDTH = 760;
const E2E_HEIGHT = 130;

/**
 * The answered tasks as drawn: of those that would fall on the same pixel (a 1600 s run has a dozen tasks
 * per pixel column, most at the same delay), one. Keeps the SVG and the spec small; the picture is the same.
 */
function visibleTasks(r: TimelineRun): TimelineRun['tasks'] {
  const pxS = r.durationS / WIDTH;
  const seen = new Set<string>();
  return r.tasks.filter((t) => {
    if (!t.ok || t.e2eMs === null || !(t.e2eMs > 0)) return false;
    // The log axis spans at most ~4 decades over E2E_HEIGHT px: 1/40 of a decade is under a pixel.
    const key = `${Math.round(t.s / pxS)}:${Math.round(Math.log10(t.e2eMs) * 40)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function runBlock(
  r: TimelineRun,
  eventsScale: { domain: string[]; range: string[] },
  categories: readonly string[],
  names: readonly string[],
) {
  const x = {
    field: 's',
    type: 'quantitative' as const,
    title: 'Time from the run’s start (s)',
    scale: { domain: [0, r.durationS], nice: false },
  };
  const colour = plannerScale([r.planner]);
  const rows: Record<string, unknown>[] = [];
  if (r.positions.length > 0)
    rows.push({
      data: { values: r.positions },
      mark: { type: 'line', strokeWidth: 1.2, color: '#555555' },
      encoding: {
        x: { ...x, axis: { title: null, labels: false } },
        y: { field: 'xM', type: 'quantitative', title: 'x (m)' },
      },
      width: WIDTH,
      height: 60,
    });
  if (r.lanes.length > 0)
    rows.push({
      data: { values: r.lanes },
      layer: [
        {
          mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
          encoding: {
            x: { ...x, field: 'fromS', axis: { title: null, labels: false } },
            x2: { field: 'toS' },
            y: { field: 'lane', type: 'nominal', title: null, sort: ['base station', 'server'] },
            color: {
              field: 'name',
              type: 'nominal',
              // One domain for every block: a host keeps its colour from run to run.
              scale: { domain: names, scheme: 'set3' },
              title: 'BS / server',
              legend: { orient: 'right', columns: 2 },
            },
            tooltip: [
              { field: 'lane', type: 'nominal' },
              { field: 'name', type: 'nominal' },
              { field: 'fromS', type: 'quantitative', title: 'from (s)', format: '.1f' },
              { field: 'toS', type: 'quantitative', title: 'to (s)', format: '.1f' },
            ],
          },
        },
        {
          transform: [{ filter: `datum.toS - datum.fromS > ${(r.durationS / WIDTH) * 40}` }],
          mark: { type: 'text', fontSize: 10, color: '#333333' },
          encoding: {
            x: { field: 'mid', type: 'quantitative', scale: { domain: [0, r.durationS], nice: false } },
            y: { field: 'lane', type: 'nominal', sort: ['base station', 'server'] },
            text: { field: 'name', type: 'nominal' },
          },
        },
      ],
      transform: [{ calculate: '(datum.fromS + datum.toS) / 2', as: 'mid' }],
      width: WIDTH,
      height: { step: 18 },
    });
  // An outage of half a second is a fraction of a pixel on a 1600 s axis: drawn at least 2 px wide.
  const minS = (2 * r.durationS) / WIDTH;
  const values = [
    ...r.outages.map((o) => ({ kind: 'outage', ...o, toS: Math.max(o.toS, round(o.fromS + minS, 3)) })),
    ...r.events.map((e) => ({ kind: 'event', ...e })),
    ...visibleTasks(r).map((t) => ({ kind: 'task', ...t })),
  ];
  rows.push({
    data: { values },
    layer: [
      outageShading(categories, x, { opacity: 0.8, tooltip: false }),
      {
        transform: [{ filter: "datum.kind === 'event'" }],
        mark: { type: 'rule', strokeWidth: 1 },
        encoding: {
          x,
          stroke: {
            field: 'event',
            type: 'nominal',
            scale: eventsScale,
            title: 'Event',
            legend: { orient: 'top' },
          },
          strokeDash: {
            field: 'event',
            type: 'nominal',
            scale: {
              domain: ['handover', 'migration'],
              range: [
                [4, 3],
                [1, 2],
              ],
            },
            title: 'Event',
            legend: { orient: 'top' },
          },
          tooltip: [
            { field: 'event', type: 'nominal' },
            { field: 'label', type: 'nominal', title: 'what' },
            { field: 's', type: 'quantitative', title: 't (s)', format: '.2f' },
          ],
        },
      },
      {
        transform: [{ filter: "datum.kind === 'task' && datum.ok && datum.e2eMs > 0" }],
        mark: { type: 'circle', size: 6, opacity: 0.8, color: colour.range[0] },
        encoding: {
          x,
          y: { field: 'e2eMs', type: 'quantitative', title: 'E2E (ms, log)', scale: { type: 'log' } },
          tooltip: [
            { field: 's', type: 'quantitative', title: 't (s)', format: '.2f' },
            { field: 'e2eMs', type: 'quantitative', title: 'E2E (ms)', format: '.1f' },
          ],
        },
      },
    ],
    width: WIDTH,
    height: E2E_HEIGHT,
  });
  return {
    title: { text: `${r.planner}: ${r.run} (${r.user})`, fontSize: 12, anchor: 'start' },
    vconcat: rows,
    spacing: 4,
  };
}

/** One block per run (stacked), each on its own time axis. */
export function timelineSpec(runs: readonly TimelineRun[]): TopLevelSpec {
  const eventsScale = { domain: ['handover', 'migration'], range: ['#333333', '#d62728'] };
  const categories = [...new Set(runs.flatMap((r) => r.outages.map((o) => o.category)))];
  const names = [...new Set(runs.flatMap((r) => r.lanes.map((l) => l.name)))].sort();
  return {
    $schema: SCHEMA,
    title: {
      text: runs.length === 1 ? `Run timeline: ${runs[0]?.run}` : 'Run timelines, one run per planner',
      subtitle: 'Position / serving base station and server; E2E of each task; outages shaded by cause',
    },
    vconcat: runs.map((r) => runBlock(r, eventsScale, categories, names)),
    spacing: 22,
    resolve: { scale: { x: 'independent', y: 'independent', color: 'independent' } },
    config: baseConfig,
  } as unknown as TopLevelSpec;
}
