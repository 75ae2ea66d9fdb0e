import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { ExitCode, UsageError } from '../../lib/errors.js';
import { type ExperimentResult, runExperiment } from '../../lib/experiment/run.js';
import { labSessionDelayMs } from '../../lib/lab/lab.js';
import { PLANNERS, type PlannerName } from '../../lib/planner/plan.js';

export default class ExperimentRun extends EdgectlCommand<typeof ExperimentRun> {
  static override summary = 'Run the paper’s comparison of planners on the testbed, and report on it.';
  static override description =
    `Each planner (and service, and repetition) runs in turn from the same clean start: the users'
containers removed, each user on its start base station at the start of its walk. Its service is deployed
where the planner puts it, its agent walks, offloads and reports, and the controller acts: cloud, random and
nearest react as the link of a handover the user's RSSI makes goes down (migrating after it: two outages);
orchestrated plans ahead from the monitor data (the models, the MIP) and carries out pre-migration, then the
final checkpoint and the handover at the same instant (one outage). After the duration no new handover
starts, and the run goes on until the reactions to those inside it have ended (at most 60 s): every planner
pays for its handovers. Server statistics and link probes are taken all along. Every run's tasks, migrations
(with their phases), handovers, outages, checkpoints and decisions (planned and actual instants, estimates
and measurements, reaction delays) go to the results directory as CSV, with meta.json (what ran: versions,
commit, command line, machine; what was emulated) and summary.json (per planner: E2E, processing and
transmission delay, downtime per run and per handover, migrations, handovers, counter continuity; for each
pair of planners the difference with its 95% interval), and the report (the verdict first; figures as SVG
and PNG; report.md) is drawn there. Ctrl+C stops cleanly: what was recorded is kept and the run is marked
incomplete (exit 130).`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --planner all --service simple --duration 60 --velocity 5',
    '<%= config.bin %> <%= command.id %> --planner nearest,orchestrated --duration 1600 --out results/paper',
    '<%= config.bin %> <%= command.id %> --planner all --repeat 3 --json | jq .result.outDir',
  ];

  static override flags = {
    planner: Flags.string({
      summary: `Planners to compare, comma-separated (${PLANNERS.join(', ')}), or all.`,
      default: 'all',
    }),
    service: Flags.string({
      summary: 'Services to run, comma-separated (hosts.yml services[].name).',
      default: 'simple',
    }),
    duration: Flags.integer({ summary: 'Seconds each run lasts.', default: 60, min: 5 }),
    velocity: Flags.string({ summary: 'The users’ walking speed in m/s (default: hosts.yml’s).' }),
    seed: Flags.integer({
      summary: 'The random planner’s seed (repetition k uses seed + k - 1).',
      default: 1,
    }),
    repeat: Flags.integer({ summary: 'Repetitions of the whole comparison.', default: 1, min: 1 }),
    out: Flags.string({ summary: 'The results directory (default: results/TESTBED-TIME beside hosts.yml).' }),
    'no-report': Flags.boolean({ summary: 'Write the data only; draw no figures.' }),
  };

  async run(): Promise<ExperimentResult & { report?: unknown }> {
    const f = this.flags;
    const planners = (
      f.planner === 'all'
        ? ['cloud', 'random', 'nearest', 'orchestrated']
        : f.planner.split(',').map((p) => p.trim())
    ) as PlannerName[];
    const bad = planners.filter((p) => !PLANNERS.includes(p));
    if (bad.length > 0 || planners.length === 0)
      throw new UsageError(`unknown planner ${bad.join(', ') || '(none)'}`, {
        hint: `one or more of ${PLANNERS.join(', ')}, or all`,
      });
    const velocity = f.velocity === undefined ? undefined : Number(f.velocity);
    if (velocity !== undefined && !(velocity > 0 && velocity < 1000))
      throw new UsageError(`--velocity must be a speed in m/s above 0, got ${f.velocity}`);
    const inv = await this.loadInventory();
    const services = f.service
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = services.filter((s) => !inv.services.some((x) => x.name === s));
    if (unknown.length > 0)
      throw new UsageError(`unknown service ${unknown.join(', ')}`, {
        hint: `services in ${f.hosts}: ${inv.services.map((s) => s.name).join(', ')}`,
      });
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    const outDir = resolve(f.out ?? join(inv.dir, 'results', `${inv.testbed}-${stamp}`));
    const pool = this.sshPool();
    const state = this.openState();
    const version = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8'))
      .version as string;
    const total = planners.length * services.length * f.repeat;
    this.note(
      `Experiment on ${inv.testbed}: ${planners.join(', ')} x ${services.join(', ')} x ${f.repeat}, ${f.duration} s each (${total} runs, about ${Math.ceil((total * (f.duration + 30)) / 60)} min); results in ${outDir}`,
    );
    let lastProgress = 0;
    try {
      const r = await runExperiment(inv, pool, state, {
        planners,
        services,
        durationS: f.duration,
        ...(velocity !== undefined ? { velocity } : {}),
        seed: f.seed,
        repeat: f.repeat,
        outDir,
        version,
        commandLine: ['edgectl', ...(this.id ?? 'experiment:run').split(':'), ...this.argv],
        sourceDir: fileURLToPath(new URL('../../..', import.meta.url)),
        labSessionDelayMs: inv.lab ? await labSessionDelayMs(inv).catch(() => null) : null,
        args: {
          planners,
          services,
          duration: f.duration,
          velocity: velocity ?? null,
          seed: f.seed,
          repeat: f.repeat,
        },
        signal: this.signal,
        onNote: (m) => {
          if (!this.jsonEnabled()) this.note(m);
          else this.verbose(m);
        },
        onProgress: (p) => {
          if (this.jsonEnabled() || Date.now() - lastProgress < 5000) return;
          lastProgress = Date.now();
          this.note(
            `[${p.run}] ${p.elapsedS}/${p.totalS} s  ${p.users.map((u) => `${u.user} ${u.bs ?? '-'}/${u.host ?? '-'}`).join(', ')}  downtime ${(p.downtimeMs / 1000).toFixed(1)} s  ${p.migrations} migrations  ${p.handovers} handovers`,
          );
        },
      });
      for (const w of r.warnings) this.warn(w);
      let report: unknown;
      if (!f['no-report'] && r.runs.length > 0) {
        const { writeReport } = await import('../../lib/experiment/report.js');
        report = await writeReport(outDir);
      }
      if (!this.jsonEnabled())
        this.say(
          `${r.complete ? 'Done' : 'Stopped (incomplete)'}: ${r.runs.length} runs. Results: ${outDir}${report ? `; report: ${join(outDir, 'report.md')}` : ''}`,
        );
      if (!r.complete && this.signal.aborted) this.status = ExitCode.interrupted;
      return { ...r, ...(report ? { report } : {}) };
    } finally {
      state.close();
      await pool.closeAll();
    }
  }
}
