/**
 * report.md's sections for many users: a table per planner of each user's tasks, E2E, downtime and moves
 * (summary.json planners[].users, present only when a run had more than one user), and the servers' load
 * against their capacity (capacity.csv: the most each held, and whether every instant stayed within it).
 * A one-user experiment, or results without capacity.csv, get neither section.
 */
import { type CapacityPeak, capacityPeaks } from './capacity.js';
import type { ExperimentSummary } from './format.js';
import { paperOrder } from './planner-order.js';
import type { CapacityCsvRow } from './report-data.js';
import { duration, ms, table } from './report-text.js';

/** "Per user": one table per planner and service with users. */
export function userSections(summary: ExperimentSummary): string[] {
  const withUsers = summary.planners.filter((p) => (p.users?.length ?? 0) > 1);
  if (withUsers.length === 0) return [];
  const out = ['## Per user', ''];
  out.push(
    "Each user's answered tasks' E2E delay (ms, mean ± std), its own downtime per run (mean over repetitions) and per handover (mean, n handovers), and the migrations of its service.",
    '',
  );
  for (const planner of paperOrder([...new Set(withUsers.map((p) => p.planner))]))
    for (const p of withUsers.filter((x) => x.planner === planner)) {
      out.push(`### ${p.planner} (${p.service})`, '');
      out.push(
        table(
          [
            'User',
            'Service',
            'Tasks',
            'E2E (ms)',
            'Downtime per run',
            'Downtime per handover',
            'Migrations',
            'Handovers',
          ],
          (p.users ?? []).map((u) => [
            u.user,
            u.service,
            `${u.tasks}${u.failedTasks > 0 ? ` (${u.failedTasks} failed)` : ''}`,
            u.e2eMs.mean === null ? '–' : `${ms(u.e2eMs.mean)} ± ${ms(u.e2eMs.std)}`,
            duration(u.downtimeMs.mean),
            u.downtimePerHandoverMs.mean === null
              ? '–'
              : `${duration(u.downtimePerHandoverMs.mean)} (n=${u.downtimePerHandoverMs.n})`,
            String(u.migrations),
            String(u.handovers),
          ]),
          ['---', '---', '---:', '---:', '---:', '---:', '---:', '---:'],
        ),
        '',
      );
    }
  return out;
}

/** Per planner (over its runs), each server's peak load and whether it was always within its capacity. */
export function capacityByPlanner(
  rows: readonly CapacityCsvRow[],
): { planner: string; peaks: CapacityPeak[] }[] {
  const planners = paperOrder([...new Set(rows.map((r) => r.planner))]);
  return planners.map((planner) => ({
    planner,
    peaks: capacityPeaks(rows.filter((r) => r.planner === planner)),
  }));
}

/** "Capacity": the most each server held per planner, against its capacity. */
export function capacitySection(rows: readonly CapacityCsvRow[] | null | undefined): string[] {
  if (!rows || rows.length === 0) return [];
  const by = capacityByPlanner(rows);
  const out = ['## Capacity', ''];
  out.push(
    "What the users' services reserve on each server (their limits in hosts.yml; capacity.csv has every change): the most a server held at any instant of a planner's runs, against its capacity (hosts[].capacity). A container counts from its deploy or its restore until its final checkpoint.",
    '',
  );
  const fmt = (v: number) => String(Math.round(v * 1000) / 1000);
  out.push(
    table(
      [
        'Planner',
        'Server',
        'Most users',
        'Most CPUs',
        'Capacity CPUs',
        'Most memory (MB)',
        'Capacity memory (MB)',
        'Within capacity',
      ],
      by.flatMap(({ planner, peaks }) =>
        peaks.map((p) => [
          planner,
          p.host,
          String(p.maxUsers),
          fmt(p.maxCpus),
          fmt(p.capCpus),
          fmt(p.maxMemMB),
          fmt(p.capMemMB),
          p.respected ? 'yes' : 'no',
        ]),
      ),
      ['---', '---', '---:', '---:', '---:', '---:', '---:', '---'],
    ),
    '',
  );
  for (const { planner, peaks } of by)
    out.push(`- ${planner}: respected at every instant: ${peaks.every((p) => p.respected) ? 'yes' : 'no'}.`);
  out.push('');
  return out;
}
