import { Args, Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { type CompareResult, writeComparison } from '../../lib/experiment/compare-write.js';

export default class ExperimentCompare extends EdgectlCommand<typeof ExperimentCompare> {
  /** Offline: reads results directories, neither hosts.yml nor the state database. */
  static override baseFlags = EdgectlCommand.globalFlags;
  /** DIR is repeated: every argument is a results directory. */
  static override strict = false;
  static override summary = 'Compare results directories: the same tables and figures, with the differences.';
  static override description =
    `Reads two or more results directories of experiment run (codec A against B, this version against the last, ...), each with a label (--label, once per DIR in order; default: the directory's name). Directories with the same label are one condition, their runs pooled as repetitions; the first label is the baseline. Per service and planner it compares each condition with the baseline in total downtime per run, mean E2E per run and downtime per handover, each difference with its 95% interval (Welch over runs when both ran twice or more, else a bootstrap over handovers), and lists the settings in which the directories differ besides (testbed, edgectl commit, duration, velocity, hosts.yml). Writes compare.md, compare.csv, compare.json and the figures (Fig. 5 and Fig. 4 with one bar per condition, and the differences) as SVG and PNG into --out. Reads neither hosts.yml nor the state database.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> results/zstd results/none --label zstd --label none --out results/codecs',
    '<%= config.bin %> <%= command.id %> results/v1-a results/v1-b results/v2 --label v1,v1,v2 --json | jq .result.differences',
  ];

  static override args = {
    dir: Args.string({
      description: 'Results directories (experiment run --out), two or more.',
      required: true,
    }),
  };

  static override flags = {
    label: Flags.string({
      summary: "Each directory's label, in the order of the directories (repeatable, or comma-separated).",
      multiple: true,
      multipleNonGreedy: true,
      delimiter: ',',
    }),
    out: Flags.string({ summary: 'Where to write (default: ./compare-<UTC time>).' }),
    force: Flags.boolean({
      summary:
        'Write into --out even if it holds files compare did not write (those of the same name replaced).',
    }),
  };

  async run(): Promise<CompareResult> {
    const { argv } = await this.parse(ExperimentCompare);
    const r = await writeComparison({
      dirs: argv as string[],
      labels: this.flags.label ?? [],
      ...(this.flags.out ? { outDir: this.flags.out } : {}),
      force: this.flags.force,
    });
    for (const w of r.warnings) this.warn(w);
    for (const f of r.files) this.say(f);
    const claimed = r.differences.filter((d) => d.includesZero === false).length;
    this.say(
      `${r.conditions.length} conditions against ${r.baseline}: ${claimed} of ${r.differences.length} differences exclude zero at 95%. Read ${r.files.find((f) => f.endsWith('compare.md'))}`,
    );
    return r;
  }
}
