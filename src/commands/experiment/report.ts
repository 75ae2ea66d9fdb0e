import { Args, Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { durationFlag } from '../../lib/cli/flags.js';
import {
  FIGURE_IDS,
  FigureNotDrawnError,
  type ReportResult,
  writeReport,
} from '../../lib/experiment/report.js';

export default class ExperimentReport extends EdgectlCommand<typeof ExperimentReport> {
  /** Offline: reads a results directory, neither hosts.yml nor the state database. */
  static override baseFlags = EdgectlCommand.globalFlags;
  static override summary =
    "Draw the paper's figures and more, and write report.md and report.html, from a results directory.";
  static override description =
    `Reads a results directory of experiment run and writes beside its files, each as SVG, PNG, PDF and its vega-lite spec (.vl.json, data inlined): Fig. 4 (delay), Fig. 5 (downtime), Fig. 6 (delay around a handover) and its aligned view over every handover, the E2E ECDF, the outages by cause, the migration phases and a run timeline; report.md with the verdict first, and report.html (the same as one self-contained page, the figures interactive, no network needed). A figure without data is not written (an earlier file of it is left as it was) and report.md says why; the command fails (exit 6, FIGURE_NOT_DRAWN) when a figure asked for (--figure, --handover, --run, or drawn by an earlier report) cannot be drawn, after drawing the others and leaving report.md and report.html as they were. Reads neither hosts.yml nor the state database.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> results/paper-fig3-20250101-120000',
    '<%= config.bin %> <%= command.id %> results/run1 --handover-service simple --json | jq .result.files',
    '<%= config.bin %> <%= command.id %> results/run1 --handover 5 --run orchestrated-simple-2',
    '<%= config.bin %> <%= command.id %> results/run1 --figure phases --figure ecdf',
  ];

  static override args = {
    dir: Args.string({
      description: 'The results directory (edgectl experiment run --out).',
      required: true,
    }),
  };

  static override flags = {
    figure: Flags.string({
      summary: 'A figure that must be drawn: fail (exit 6) when it cannot be. Repeatable.',
      options: [...FIGURE_IDS],
      multiple: true,
    }),
    handover: Flags.integer({
      summary: "Fig. 6 at each planner's N-th handover of its first run (as fig6-handover-N).",
      min: 1,
    }),
    run: Flags.string({
      summary: 'The timeline of this run (as timeline-RUN) instead of one run per planner.',
    }),
    'handover-service': Flags.string({
      summary:
        "Fig. 6's service (default: openface when it ran, as in the paper, else the first with a handover).",
    }),
    window: durationFlag({
      summary: "Fig. 6's window around the handover.",
      unit: 's',
      defaultMs: 50_000,
      minMs: 5000,
    }),
    before: durationFlag({
      summary: 'How much of the window comes before the handover.',
      unit: 's',
      defaultMs: 20_000,
      minMs: 0,
    }),
  };

  async run(): Promise<ReportResult> {
    const { args } = await this.parse(ExperimentReport);
    const r = await writeReport(args.dir, {
      windowS: this.flags.window / 1000,
      beforeS: Math.min(this.flags.before, this.flags.window) / 1000,
      ...(this.flags['handover-service'] ? { handoverService: this.flags['handover-service'] } : {}),
      ...(this.flags.handover === undefined ? {} : { handover: this.flags.handover }),
      ...(this.flags.run === undefined ? {} : { run: this.flags.run }),
      ...(this.flags.figure ? { figures: this.flags.figure as (typeof FIGURE_IDS)[number][] } : {}),
    }).catch((err: unknown) => {
      // What was written, and why the rest was not, before the error's own message.
      if (err instanceof FigureNotDrawnError) this.tell(err.result);
      throw err;
    });
    this.tell(r);
    return r;
  }

  private tell(r: ReportResult): void {
    for (const w of r.warnings) this.warn(w);
    for (const f of r.files) this.say(f);
    for (const f of r.figures.filter((x) => !x.drawn)) this.say(`not drawn: ${f.name} (${f.reason})`);
  }
}
