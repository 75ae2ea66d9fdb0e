import { readFile, writeFile } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { errorMessage, UsageError } from '../lib/errors.js';
import { buildSnapshot, DEFAULT_WINDOW_S } from '../lib/monitor/snapshot.js';
import { type PlanInput, parsePlanInput, planInputFrom } from '../lib/planner/input.js';
import { PLANNERS, type PlannerName, type PlanResult, plan } from '../lib/planner/plan.js';
import { renderTable } from '../lib/util/table.js';

export default class Plan extends EdgectlCommand<typeof Plan> {
  static override summary =
    'Plan where every user’s service and radio link should go, and when to move them.';
  static override description =
    `Reads the latest monitor data in the state database (what \`edgectl monitor --once --json\`
exports: RSSI, recent tasks, CPU scores and loads, RTTs) with hosts.yml, or a saved plan input (--snapshot FILE,
which needs no testbed), and prints one decision per user: its base station and server, the estimates behind
them (E2E delay by eq. 4, pre-migration and migration times by eq. 5 with psi and rho fitted from the recorded
checkpoints and restores, the downtime) and when to start pre-migration, migration and handover.
orchestrated solves the placement MIP (delay gain minus downtime, under server capacities and base-station
limits) and times every move to finish, as one outage of max(T_mig, T_ho), before the user's predicted handover;
nearest, cloud and random choose by rule and react to the handover (two outages). Nothing is moved.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --planner nearest --json',
    '<%= config.bin %> <%= command.id %> --save-input plan-input.json',
    '<%= config.bin %> <%= command.id %> --snapshot plan-input.json --solver highs',
  ];

  static override flags = {
    planner: Flags.option({ options: PLANNERS, default: 'orchestrated' as PlannerName })({
      summary: 'How to choose.',
    }),
    solver: Flags.option({
      options: ['auto', 'lp-solver', 'highs', 'greedy'] as const,
      default: 'auto' as const,
    })({
      summary: 'The MIP solver (orchestrated): auto picks by the problem’s size.',
    }),
    snapshot: Flags.string({
      summary: 'Plan from this saved plan input instead of the testbed (no hosts.yml needed).',
    }),
    'save-input': Flags.string({ summary: 'Also write the plan input to this file (for --snapshot).' }),
    window: Flags.integer({
      summary: 'The task window (s) the gains count over, when reading the state database.',
      default: DEFAULT_WINDOW_S,
      min: 1,
    }),
    seed: Flags.integer({ summary: 'The random planner’s seed.', default: 1 }),
    'time-limit-ms': Flags.integer({ summary: 'Give the solver this long.', default: 10_000, min: 1 }),
  };

  async run(): Promise<PlanResult & { inputFile?: string }> {
    const f = this.flags;
    let input: PlanInput;
    if (f.snapshot) {
      let data: unknown;
      try {
        data = JSON.parse(await readFile(f.snapshot, 'utf8'));
      } catch (err) {
        throw new UsageError(`cannot read ${f.snapshot}: ${errorMessage(err)}`);
      }
      // A whole `plan --json` or `monitor`-style envelope is accepted too: its input, if it has one.
      const inner = (data as { result?: { input?: unknown } }).result?.input ?? data;
      input = parsePlanInput(inner, f.snapshot);
    } else {
      const inv = await this.loadInventory();
      const state = this.openState();
      try {
        const snap = buildSnapshot(inv, state, { atMs: Date.now(), windowS: f.window });
        for (const u of snap.users) {
          if (!u.report)
            this.warn(
              `${u.user}: no report from its agent in the state database (run edgectl monitor first)`,
            );
          else if (u.report.ageS > f.window)
            this.warn(`${u.user}: its newest report is ${u.report.ageS.toFixed(0)} s old (edgectl monitor)`);
        }
        input = planInputFrom(inv, state, snap);
      } finally {
        state.close();
      }
    }
    if (f['save-input']) await writeFile(f['save-input'], `${JSON.stringify(input, null, 2)}\n`);
    const r = await plan(input, {
      planner: f.planner,
      solver: f.solver,
      seed: f.seed,
      timeLimitMs: f['time-limit-ms'],
      ...(f.snapshot ? {} : { nowMs: input.atMs }),
    });
    for (const w of r.warnings) this.warn(w);
    if (!this.jsonEnabled()) this.say(render(r));
    return { ...r, ...(f['save-input'] ? { inputFile: f['save-input'] } : {}) };
  }
}

function render(r: PlanResult): string {
  const rel = (at: number | null) =>
    at === null ? '-' : `${at - r.atMs >= 0 ? '+' : ''}${((at - r.atMs) / 1000).toFixed(1)}s`;
  const head = `${r.planner}${r.solver ? ` (${r.solver}: ${r.status}${r.gap !== null ? `, gap ${(r.gap * 100).toFixed(2)}%` : ''}, ${r.solveMs.toFixed(1)} ms)` : ''}: objective ${r.objective.toFixed(1)}`;
  const table = renderTable([
    ['USER', 'FROM', 'TO', 'E2E ms', 'NOW ms', 'DOWN ms', 'PRE-MIG', 'MIG', 'HANDOVER', 'T_HO'],
    ...r.decisions.map((d) => [
      d.user,
      `${d.from.bs ?? '-'}/${d.from.host ?? '-'}`,
      `${d.bs}/${d.host}`,
      d.estimates.e2eMs.toFixed(1),
      d.estimates.refE2eMs?.toFixed(1) ?? '-',
      d.estimates.downtimeMs.toFixed(0),
      rel(d.triggers.preMigrationAt),
      rel(d.triggers.migrationAt),
      rel(d.triggers.handoverAt),
      d.predictedHandover ? `${rel(d.predictedHandover.atMs)} -> ${d.predictedHandover.to}` : '-',
    ]),
  ]);
  return `${head}\n${table}\n(times relative to the plan's instant; NOW: the delay of staying on its server at the base station it would be on anyway)`;
}
