import { readFile, writeFile } from 'node:fs/promises';
import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { durationFlag } from '../lib/cli/flags.js';
import { EdgectlError, ExitCode, errorMessage, UsageError } from '../lib/errors.js';
import { buildSnapshot, DEFAULT_WINDOW_S } from '../lib/monitor/snapshot.js';
import { DEFAULT_PLANNER_TIMEOUT_MS, parsePlannerSpec } from '../lib/planner/custom.js';
import { type PlanInput, parsePlanInput, planInputFrom } from '../lib/planner/input.js';
import { PLANNERS, type PlanResult, plan } from '../lib/planner/plan.js';
import { readState } from '../lib/state/index.js';
import { renderTable } from '../lib/util/table.js';

/** Nothing to plan from: no state database, or no user with monitor data (exit 6, not ready). */
export class NothingToPlanError extends EdgectlError {
  constructor(message: string, hint: string) {
    super('NOTHING_TO_PLAN', ExitCode.notReady, message, { hint });
  }
}

const MONITOR_HINT =
  "run edgectl monitor --duration 60 first (the users' agents report their RSSI and tasks)";

export default class Plan extends EdgectlCommand<typeof Plan> {
  static override summary =
    'Plan where every user’s service and radio link should go, and when to move them.';
  static override description =
    `Reads the latest monitor data (or a saved plan input: --snapshot, no testbed needed) and prints one decision per user: its base station and server, the estimates behind them, and when to pre-migrate, migrate and hand over. Nothing is moved. Exits 6 when there is no monitor data to plan from.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --planner nearest --json',
    '<%= config.bin %> <%= command.id %> --save-input plan-input.json',
    '<%= config.bin %> <%= command.id %> --snapshot plan-input.json --solver highs',
    '<%= config.bin %> <%= command.id %> --snapshot plan-input.json --planner greedy=exec:"python3 examples/planners/greedy.py"',
  ];

  static override flags = {
    planner: Flags.string({
      summary: `How to choose: ${PLANNERS.join(', ')}, or your own program: exec:COMMAND or NAME=exec:COMMAND.`,
      description:
        'An outside planner reads the plan input as JSON on its standard input and writes its decisions as JSON on its standard output (docs/guide/planners.md). COMMAND is split like a shell would, without running one; its answer is checked against the constraints, and a failing one exits 8.',
      default: 'orchestrated',
    }),
    'planner-timeout': durationFlag({
      summary: 'An outside planner’s time limit: killed and failed after this long.',
      unit: 'ms',
      defaultMs: DEFAULT_PLANNER_TIMEOUT_MS,
      minMs: 1,
    }),
    solver: Flags.option({
      options: ['auto', 'lp-solver', 'highs', 'greedy'] as const,
      default: 'auto' as const,
    })({
      summary: 'The MIP solver (orchestrated): auto picks by the problem’s size.',
    }),
    snapshot: Flags.string({
      summary:
        'Plan from this saved plan input (plan --save-input) instead: reads neither hosts.yml nor the state database.',
    }),
    'save-input': Flags.string({ summary: 'Also write the plan input to this file (for --snapshot).' }),
    window: durationFlag({
      summary: 'The task window the gains count over, when reading the state database.',
      unit: 's',
      defaultMs: DEFAULT_WINDOW_S * 1000,
      minMs: 1000,
    }),
    seed: Flags.integer({ summary: 'The random planner’s seed.', default: 1 }),
    'time-limit': durationFlag({
      summary: 'Give the solver this long.',
      unit: 'ms',
      defaultMs: 10_000,
      minMs: 1,
      aliases: ['time-limit-ms'],
    }),
  };

  async run(): Promise<PlanResult & { inputFile?: string }> {
    const f = this.flags;
    // Checked before anything is read: a bad --planner is a usage error, whatever the testbed.
    const planner = parsePlannerSpec(f.planner, { timeoutMs: f['planner-timeout'] });
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
      // plan only reads: it neither creates a state database nor changes one.
      const state = readState(this.stateFile);
      if (!state) throw new NothingToPlanError(`no state database at ${this.stateFile}`, MONITOR_HINT);
      try {
        const snap = buildSnapshot(inv, state, { atMs: Date.now(), windowS: f.window / 1000 });
        for (const u of snap.users) {
          if (!u.report)
            this.warn(
              `${u.user}: no report from its agent in the state database (run edgectl monitor first)`,
            );
          else if (u.report.ageS > f.window / 1000)
            this.warn(`${u.user}: its newest report is ${u.report.ageS.toFixed(0)} s old (edgectl monitor)`);
        }
        input = planInputFrom(inv, state, snap);
      } finally {
        state.close();
      }
    }
    // A plan needs to know where the users are: without one RSSI reading there is nothing to plan.
    if (!input.users.some((u) => Object.keys(u.rssi).length > 0))
      throw new NothingToPlanError(
        input.users.length === 0
          ? `nothing to plan: ${f.snapshot ?? 'hosts.yml'} has no users`
          : `nothing to plan: no monitor data for any user (${input.users.map((u) => u.name).join(', ')})`,
        f.snapshot
          ? 'save a plan input after edgectl monitor has run: edgectl plan --save-input FILE'
          : MONITOR_HINT,
      );
    if (f['save-input']) await writeFile(f['save-input'], `${JSON.stringify(input, null, 2)}\n`);
    const r = await plan(input, {
      planner,
      signal: this.signal,
      solver: f.solver,
      seed: f.seed,
      timeLimitMs: f['time-limit'],
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
