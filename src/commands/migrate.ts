import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { durationFlag } from '../lib/cli/flags.js';
import { getService, probeText } from '../lib/inventory/index.js';
import {
  CODECS,
  type Codec,
  DEFAULT_CODEC,
  DEFAULT_DOWNTIME_BUDGET_MS,
  type MigrationResult,
  migrate,
  phasesOf,
  STRATEGIES,
  type Strategy,
} from '../lib/migration/pipeline.js';
import { RecoverError, recover } from '../lib/migration/recover.js';
import { describeLatency, warnUnemulated } from '../lib/provision/latency.js';
import { StepProgress } from '../lib/util/progress.js';

function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '';
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

export default class Migrate extends EdgectlCommand<typeof Migrate> {
  static override summary =
    "Move a user's service to another server: a live migration with a delta checkpoint.";
  static override description =
    `delta (default): checkpoint the running container and copy it ahead, then stop it, send only what changed (--codec) and restore it on --to. full: stop and copy. The downtime is measured from the user's machine. On failure the service is restored on the source (exit 5); Ctrl+C finishes or undoes it (exit 130).`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --user mu1 --to edge2',
    '<%= config.bin %> <%= command.id %> --user mu1 --to cloud --strategy full --json',
  ];

  static override flags = {
    user: Flags.string({ summary: 'The user whose service moves.', required: true }),
    to: Flags.string({ summary: 'The destination server.', required: true }),
    strategy: Flags.string({
      summary: 'delta (pre-copy, then the difference) or full (stop and copy).',
      options: [...STRATEGIES],
      default: 'delta',
    }),
    codec: Flags.string({
      summary: 'How the difference is computed and sent (delta strategy).',
      options: [...CODECS],
      default: DEFAULT_CODEC,
    }),
    'no-probe': Flags.boolean({ summary: "Do not measure the downtime from the user's machine." }),
    'downtime-budget': durationFlag({
      summary: 'How long the service may stay down before the migration rolls back by itself.',
      unit: 's',
      defaultMs: DEFAULT_DOWNTIME_BUDGET_MS,
      minMs: 1000,
    }),
  };

  async run(): Promise<MigrationResult> {
    const inv = await this.loadInventory();
    const strategy = this.flags.strategy as Strategy;
    const pool = this.sshPool();
    const state = this.openState();
    const codec = this.flags.codec as Codec;
    const progress = new StepProgress(phasesOf(strategy), { silent: this.jsonEnabled() });
    try {
      // An earlier migrate of this user that died half-way is ended first (see edgectl recover).
      const earlier = await recover(inv, pool, state, { user: this.flags.user });
      for (const o of earlier) {
        // One under way in another process: the user's lock, taken next, refuses this one (LOCKED).
        if (o.outcome === 'busy') continue;
        if (o.outcome === 'failed')
          throw new RecoverError(
            `an unfinished migration of ${o.user} could not be ended: ${o.error}`,
            earlier,
          );
        this.note(
          `an earlier migration of ${o.user} (${o.migrationId}) was left unfinished: ${o.outcome === 'forward' ? `finished, the service runs on ${o.to}` : `undone, the service runs on ${o.from}`}`,
        );
      }
      // migrate() holds the user's lock (this machine's and the source server's) for the whole of it.
      const r = await migrate(inv, pool, state, {
        user: this.flags.user,
        to: this.flags.to,
        strategy,
        codec,
        probe: !this.flags['no-probe'],
        signal: this.signal,
        downtimeBudgetMs: this.flags['downtime-budget'],
        onPhase: (e) => {
          if (e.status === 'start') this.verbose(`[migrate] ${e.name} started`);
          if (e.status === 'end')
            progress.end(e.name, `${(e.durationMs ?? 0).toFixed(0)} ms ${bytes(e.bytes)}`.trim());
          if (e.status === 'fail') progress.fail(e.name, e.error ?? 'failed');
          if (e.name === 'rollback' && e.status !== 'start')
            this.note(`rollback: ${e.status === 'end' ? 'the service runs on the source again' : e.error}`);
        },
      });
      await progress.close();
      if (this.signal.aborted)
        this.warn(`interrupted once the service answered on ${r.to}: the migration was finished, not undone`);
      const service = getService(inv, r.service);
      if (r.downtimeMs === null)
        this.warn(
          service.probe.kind === 'none'
            ? `the downtime was not measured: the ${service.name} service has probe: none in ${inv.file}`
            : 'the downtime could not be measured (no probe result from the user machine)',
        );
      if (r.image?.loaded)
        this.note(
          `${r.image.name} was not on ${r.to}: loaded there from ${r.from} before the downtime (${bytes(r.image.bytes)}, ${(r.image.ms / 1000).toFixed(1)} s)`,
        );
      this.say(
        `Moved ${r.service} of ${r.user} from ${r.from} to ${r.to} (${r.strategy}${r.codec ? `, ${r.codec}` : ''}): downtime ${r.downtimeMs === null ? 'unmeasured' : `${r.downtimeMs.toFixed(0)} ms (probe: ${r.probe?.probe ?? probeText(service.probe)})`}, total ${(r.totalMs / 1000).toFixed(1)} s, ${bytes(r.bytesDuringDowntime)} sent during the downtime.`,
      );
      if (r.breakdown && !this.jsonEnabled()) {
        const b = r.breakdown;
        const ms = (v: number | null) => (v === null ? '?' : v.toFixed(0));
        this.say(
          `downtime: CRIU dump ${ms(b.criuDumpMs)} ms, restore ${ms(b.criuRestoreMs)} ms; ${r.checkpointer === 'runc' ? 'runc and Docker' : 'Docker'} around them ${ms(b.runtimeMs)} ms; delta ${ms(b.deltaMs)} ms; transfer ${ms(b.transferMs)} ms; the first answer on the user's path ${ms(b.pathMs)} ms; the rest ${ms(b.edgectlMs)} ms`,
        );
      }
      if (r.stateCheck && !this.jsonEnabled())
        this.say(`state check (${r.stateCheck.argv.join(' ')}): the same before and after`);
      if (r.stateDigest?.digest && !this.jsonEnabled())
        this.say(
          `state: after task ${r.stateDigest.counter} the same on ${r.to} (digest ${r.stateDigest.digest})`,
        );
      if (r.stateDigest?.note) this.note(`state ${r.stateDigest.note}`);
      if (!this.jsonEnabled()) this.say(`latency: ${describeLatency(r.latency)}`);
      warnUnemulated(this, r.latency);
      return r;
    } finally {
      await progress.close();
      state.close();
      await pool.closeAll();
    }
  }
}
