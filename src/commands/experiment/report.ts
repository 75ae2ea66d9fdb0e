import { Args, Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { type ReportResult, writeReport } from '../../lib/experiment/report.js';

export default class ExperimentReport extends EdgectlCommand<typeof ExperimentReport> {
  static override summary = "Draw the paper's figures and write report.md from a results directory.";
  static override description =
    `Reads the results directory of edgectl experiment run (meta.json, summary.json and the CSV files) and
writes, beside them: fig4-delay (mean processing + transmission delay per planner, ±1 std of E2E),
fig5-downtime (total downtime per run per planner, 95% CI over repetitions), fig6-handover (the E2E delay
of each task over a 50 s window around a handover, one panel per planner, the outages shaded), each as SVG
and PNG, and report.md: first the verdict (for each pair of planners the difference in total downtime and
in mean E2E with its 95% interval, over repetitions or over handovers, and whether it can be claimed), then
the headline ratios to orchestrated, the figures, a per-planner summary with the downtime per handover, the
coordination of planned pairs, the planner's prediction errors, the migrations' reaction delay and
pre-transfer throughput (decisions.csv), Table I of checkpoint sizes, and what was and was not emulated.
Empty CSV files, incomplete runs and results from before decisions.csv are reported, not refused.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> results/paper-fig3-20250101-120000',
    '<%= config.bin %> <%= command.id %> results/run1 --handover-service simple --json | jq .result.files',
  ];

  static override args = {
    dir: Args.string({
      description: 'The results directory (edgectl experiment run --out).',
      required: true,
    }),
  };

  static override flags = {
    'handover-service': Flags.string({
      summary:
        "Fig. 6's service (default: openface when it ran, as in the paper, else the first with a handover).",
    }),
    window: Flags.integer({ summary: "Fig. 6's window around the handover, in s.", default: 50, min: 5 }),
    before: Flags.integer({
      summary: 'How much of the window comes before the handover, in s.',
      default: 20,
      min: 0,
    }),
  };

  async run(): Promise<ReportResult> {
    const { args } = await this.parse(ExperimentReport);
    const r = await writeReport(args.dir, {
      windowS: this.flags.window,
      beforeS: Math.min(this.flags.before, this.flags.window),
      ...(this.flags['handover-service'] ? { handoverService: this.flags['handover-service'] } : {}),
    });
    for (const w of r.warnings) this.warn(w);
    for (const f of r.files) this.say(f);
    return r;
  }
}
