import { Args, Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { durationFlag } from '../../lib/cli/flags.js';
import { type ReportResult, writeReport } from '../../lib/experiment/report.js';

export default class ExperimentReport extends EdgectlCommand<typeof ExperimentReport> {
  /** Offline: reads a results directory, neither hosts.yml nor the state database. */
  static override baseFlags = EdgectlCommand.globalFlags;
  static override summary = "Draw the paper's figures and write report.md from a results directory.";
  static override description =
    `Reads a results directory of experiment run and writes beside its files: Fig. 4 (delay), Fig. 5 (downtime) and Fig. 6 (delay around a handover) as SVG and PNG, and report.md with the verdict first. Reads neither hosts.yml nor the state database.`;

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
    });
    for (const w of r.warnings) this.warn(w);
    for (const f of r.files) this.say(f);
    return r;
  }
}
