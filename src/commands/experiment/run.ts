import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { durationFlag } from '../../lib/cli/flags.js';
import { checkOutDir } from '../../lib/cli/out.js';
import { ExitCode, UsageError } from '../../lib/errors.js';
import {
  type ExperimentCommon,
  type ExperimentResult,
  ownServicesLabel,
  resumeExperiment,
  runExperiment,
} from '../../lib/experiment/run.js';
import type { ExperimentConfig } from '../../lib/experiment/runs.js';
import { outsideOf } from '../../lib/experiment/runs.js';
import { labSessionDelayMs } from '../../lib/lab/lab.js';
import { recover } from '../../lib/migration/recover.js';
import {
  DEFAULT_PLANNER_TIMEOUT_MS,
  type PlannerSpec,
  parsePlannerSpecs,
  plannerName,
  plannerValues,
} from '../../lib/planner/custom.js';
import { PLANNERS } from '../../lib/planner/plan.js';

export default class ExperimentRun extends EdgectlCommand<typeof ExperimentRun> {
  static override summary = 'Run the paper’s comparison of planners on the testbed, and report on it.';
  static override description =
    `Each planner, service and repetition runs in turn from the same clean start: the users' services deployed where the planner puts them, their agents walking, offloading and handing over, the controller migrating. Results go to --out as CSV files, meta.json and summary.json, with the report (figures, report.md). Ctrl+C stops cleanly (exit 130); --resume ID finishes a stopped or killed experiment.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --planner all --service simple --duration 60 --velocity 5',
    '<%= config.bin %> <%= command.id %> --planner nearest --planner orchestrated --duration 1600s --out results/paper',
    '<%= config.bin %> <%= command.id %> --planner all --repeat 3 --json | jq .result.outDir',
    '<%= config.bin %> <%= command.id %> --resume 12',
  ];

  static override flags = {
    planner: Flags.string({
      summary: `A planner to compare (repeatable, or comma-separated): ${PLANNERS.join(', ')}, all, or your own: exec:COMMAND or NAME=exec:COMMAND.`,
      description:
        'An outside planner (docs/guide/planners.md) plans ahead like orchestrated; NAME (default exec) names its runs and results. A value with exec: is not split on commas.',
      multiple: true,
      default: ['all'],
    }),
    'planner-timeout': durationFlag({
      summary: 'An outside planner’s time limit per call: a round it misses is dropped (every user stays).',
      unit: 'ms',
      defaultMs: DEFAULT_PLANNER_TIMEOUT_MS,
      minMs: 1,
    }),
    service: Flags.string({
      summary:
        'A service to run for every user (hosts.yml services[].name; repeatable, or comma-separated); default: each user its own.',
      multiple: true,
      delimiter: ',',
    }),
    duration: durationFlag({
      summary: 'How long each run lasts.',
      unit: 's',
      defaultMs: 60_000,
      minMs: 5000,
    }),
    velocity: Flags.string({ summary: 'The users’ walking speed in m/s (default: hosts.yml’s).' }),
    seed: Flags.integer({
      summary: 'The random planner’s seed (repetition k uses seed + k - 1).',
      default: 1,
    }),
    repeat: Flags.integer({ summary: 'Repetitions of the whole comparison.', default: 1, min: 1 }),
    out: Flags.string({ summary: 'The results directory (default: results/TESTBED-TIME beside hosts.yml).' }),
    force: Flags.boolean({
      summary: 'Write into --out even if it holds files (those of the same name replaced).',
    }),
    'no-report': Flags.boolean({ summary: 'Write the data only; draw no figures.' }),
    resume: Flags.integer({
      summary:
        'Finish experiment ID (meta.json id): its complete runs kept, the others run, its settings kept.',
      min: 1,
    }),
  };

  async run(): Promise<ExperimentResult> {
    const f = this.flags;
    const { metadata } = await this.parse(ExperimentRun);
    /** Given on the command line, not a default (a resumed experiment keeps its own). */
    const given = (name: string) =>
      (f as Record<string, unknown>)[name] !== undefined && !metadata.flags[name]?.setFromDefault;
    // In the order given, each once; a value holding exec: is one outside planner (its command may hold commas).
    const specs: PlannerSpec[] = parsePlannerSpecs(plannerValues(f.planner), {
      timeoutMs: f['planner-timeout'],
    });
    if (specs.length === 0)
      throw new UsageError('unknown planner (none)', {
        hint: `one or more of ${PLANNERS.join(', ')}, or all, or exec:COMMAND`,
      });
    const planners = specs.map(plannerName);
    const velocity = f.velocity === undefined ? undefined : Number(f.velocity);
    if (velocity !== undefined && !(velocity > 0 && velocity < 1000))
      throw new UsageError(`--velocity must be a speed in m/s above 0, got ${f.velocity}`);
    const inv = await this.loadInventory();
    // Before anything runs: an experiment writes its results over whatever --out holds. Its own directory
    // (--resume) is rewritten by design.
    if (f.out)
      checkOutDir(resolve(f.out), { force: f.force, ...(f.resume === undefined ? {} : { ownId: f.resume }) });
    // None given: each user runs its own service (hosts.yml users[].service).
    const services = [...new Set((f.service ?? []).map((s) => s.trim()).filter(Boolean))];
    const unknown = services.filter((s) => !inv.services.some((x) => x.name === s));
    if (unknown.length > 0)
      throw new UsageError(`unknown service ${unknown.join(', ')}`, {
        hint: `services in ${f.hosts}: ${inv.services.map((s) => s.name).join(', ')}`,
      });
    const pool = this.sshPool();
    const state = this.openState();
    const version = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8'))
      .version as string;
    let lastProgress = 0;
    const common: ExperimentCommon = {
      version,
      commandLine: ['edgectl', ...(this.id ?? 'experiment:run').split(':'), ...this.argv],
      sourceDir: fileURLToPath(new URL('../../..', import.meta.url)),
      labSessionDelayMs: inv.lab ? await labSessionDelayMs(inv).catch(() => null) : null,
      report: !f['no-report'],
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
    };
    try {
      // Migrations an earlier (killed) experiment or migrate left unfinished are ended first: the runs
      // deploy every user's service afresh, over whatever such a migration left on the servers.
      for (const o of await recover(inv, pool, state, { onProgress: (m) => this.note(m) })) {
        if (o.outcome === 'busy')
          throw new UsageError(`a migration of ${o.user} is under way: ${o.error}`, {
            hint: 'wait for it to end',
          });
        if (o.outcome === 'failed')
          throw new UsageError(`an unfinished migration of ${o.user} could not be ended: ${o.error}`, {
            hint: 'fix what it names, then edgectl recover',
          });
      }
      let r: ExperimentResult;
      if (f.resume !== undefined) {
        const asked: Partial<ExperimentConfig> = {
          ...(given('planner') ? { planners, outside: outsideOf(specs) } : {}),
          ...(services.length > 0 ? { services } : {}),
          ...(given('duration') ? { durationS: f.duration / 1000 } : {}),
          ...(velocity !== undefined ? { velocity } : {}),
          ...(given('seed') ? { seed: f.seed } : {}),
          ...(given('repeat') ? { repeat: f.repeat } : {}),
        };
        r = await resumeExperiment(inv, pool, state, {
          ...common,
          id: f.resume,
          given: asked,
          planners: specs,
          ...(f.out ? { outDir: resolve(f.out) } : {}),
        });
      } else {
        const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
        const outDir = resolve(f.out ?? join(inv.dir, 'results', `${inv.testbed}-${stamp}`));
        const durationS = f.duration / 1000;
        const total = planners.length * Math.max(1, services.length) * f.repeat;
        const what =
          services.length > 0 ? services.join(', ') : `each user its own service (${ownServicesLabel(inv)})`;
        this.note(
          `Experiment on ${inv.testbed}: ${planners.join(', ')} x ${what} x ${f.repeat}, ${durationS} s each (${total} runs, about ${Math.ceil((total * (durationS + 30)) / 60)} min); results in ${outDir}`,
        );
        r = await runExperiment(inv, pool, state, {
          ...common,
          planners: specs,
          services,
          durationS,
          ...(velocity !== undefined ? { velocity } : {}),
          seed: f.seed,
          repeat: f.repeat,
          outDir,
          args: {
            planners,
            // The outside planners' programs as run (absolute paths) and time limits.
            outside: outsideOf(specs),
            services: services.length > 0 ? services : null,
            duration: durationS,
            velocity: velocity ?? null,
            seed: f.seed,
            repeat: f.repeat,
          },
        });
      }
      for (const w of r.warnings) this.warn(w);
      const stopped = !r.complete && this.signal.aborted;
      if (!this.jsonEnabled())
        this.say(
          `${r.complete ? 'Done' : 'Stopped (incomplete)'}: experiment ${r.id}, ${r.runs.length} runs. Results: ${r.outDir}${r.report ? `; report: ${join(r.outDir, 'report.md')}` : ''}${r.complete ? '' : `. To finish it: edgectl experiment run --resume ${r.id}`}`,
        );
      if (stopped) this.status = ExitCode.interrupted;
      return r;
    } finally {
      state.close();
      await pool.closeAll();
    }
  }
}
