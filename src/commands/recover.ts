import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { RecoverError, type RecoveryOutcome, recover } from '../lib/migration/recover.js';

export default class Recover extends EdgectlCommand<typeof Recover> {
  static override summary = 'Bring migrations whose controller died to one consistent end.';

  static override description =
    `Finds migrations whose controller died (SIGKILL, a crash) and ends each from its journal: finished on the destination if it had committed, else undone on the source. The service then runs on exactly one server. migrate runs this for its user first; --force takes over migrations started on another machine.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --user mu1 --json',
  ];

  static override flags = {
    user: Flags.string({ summary: "Only this user's migrations." }),
    force: Flags.boolean({
      summary:
        'Also take over migrations started on another machine (their controller cannot be checked here).',
    }),
  };

  async run(): Promise<{ outcomes: RecoveryOutcome[] }> {
    const inv = await this.loadInventory();
    const pool = this.sshPool();
    const state = this.openState();
    try {
      const outcomes = await recover(inv, pool, state, {
        ...(this.flags.user ? { user: this.flags.user } : {}),
        force: this.flags.force,
        onProgress: (m) => this.note(m),
      });
      for (const o of outcomes)
        this.say(
          o.outcome === 'forward'
            ? `migration ${o.migrationId} of ${o.user}: finished, the service runs on ${o.to}`
            : o.outcome === 'back'
              ? `migration ${o.migrationId} of ${o.user}: undone, the service runs on ${o.from}`
              : o.outcome === 'busy'
                ? `migration ${o.migrationId} of ${o.user}: left alone, ${o.error}`
                : `migration ${o.migrationId} of ${o.user}: not recovered: ${o.error}`,
        );
      if (outcomes.length === 0) this.say('No unfinished migrations.');
      const failed = outcomes.filter((o) => o.outcome === 'failed');
      if (failed.length > 0)
        throw new RecoverError(
          `${failed.length} of ${outcomes.length} unfinished migrations could not be ended`,
          outcomes,
        );
      return { outcomes };
    } finally {
      state.close();
      await pool.closeAll();
    }
  }
}
