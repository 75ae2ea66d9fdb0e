import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { Args, Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { checkOutDir } from '../../lib/cli/out.js';
import { UsageError } from '../../lib/errors.js';
import { type ExportResult, exportExperiment } from '../../lib/experiment/export.js';

export default class ExperimentExport extends EdgectlCommand<typeof ExperimentExport> {
  static override summary = "Write an experiment's results directory from the state database alone.";
  static override description =
    `Writes what experiment run writes (meta.json, summary.json, the CSV files, the report) for every run of experiment ID that ended, from the state database: for an experiment killed half way, or a lost directory. ID is meta.json's "id". --out refuses a directory holding other files unless --force.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> 12',
    '<%= config.bin %> <%= command.id %> 12 --out results/rebuilt --unfinished --json | jq .result.runs',
  ];

  static override args = {
    id: Args.integer({ description: 'The experiment (meta.json id).', required: true, min: 1 }),
  };

  static override flags = {
    out: Flags.string({ summary: 'The results directory (default: the one the experiment wrote to).' }),
    force: Flags.boolean({
      summary: 'Write into --out even if it holds files (those of the same name replaced).',
    }),
    unfinished: Flags.boolean({
      summary: 'Include the runs that never ended (edgectl killed during them), marked incomplete.',
    }),
    'no-report': Flags.boolean({ summary: 'Write the data only; draw no figures.' }),
  };

  async run(): Promise<ExportResult> {
    const { args } = await this.parse(ExperimentExport);
    // Opening would create an empty database and then find nothing in it: say what is wrong instead.
    if (!existsSync(this.stateFile))
      throw new UsageError(`no state database at ${this.stateFile}`, {
        hint: '--state names the database the experiment ran with (default .edgectl/state.db beside hosts.yml)',
      });
    if (this.flags.out) checkOutDir(resolve(this.flags.out), { force: this.flags.force, ownId: args.id });
    const state = this.openState();
    try {
      const r = await exportExperiment(state, args.id, {
        ...(this.flags.out ? { outDir: resolve(this.flags.out) } : {}),
        unfinished: this.flags.unfinished,
        report: !this.flags['no-report'],
        where: this.stateFile,
      });
      for (const w of [...r.warnings, ...(r.report?.warnings ?? [])]) this.warn(w);
      this.say(
        `Experiment ${r.id}: ${r.runs.length} runs (${r.runs.filter((x) => x.complete).length} complete)${r.missing.length > 0 ? `, ${r.missing.length} without results (${r.missing.join(', ')})` : ''}; ${r.finished ? 'it ended' : 'it never ended: edgectl experiment run --resume ' + r.id + ' finishes it'}. Results: ${r.outDir}`,
      );
      return r;
    } finally {
      state.close();
    }
  }
}
