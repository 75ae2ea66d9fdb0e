import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { type UndeployResult, undeploy } from '../lib/docker/deploy.js';
import { refuseWhileMigrating } from '../lib/migration/recover.js';

export default class Undeploy extends EdgectlCommand<typeof Undeploy> {
  static override summary = "Remove a user's service container and its placement.";

  static override description =
    `Removes the container where the placement record says it runs, then the record. If that server cannot be reached nothing changes (exit 5), unless --forget.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --user mu1',
    '<%= config.bin %> <%= command.id %> --user mu1 --forget --json',
  ];

  static override flags = {
    user: Flags.string({ summary: 'The user (hosts.yml users[].name).', required: true }),
    forget: Flags.boolean({
      summary: 'Drop the placement record even if its server cannot be reached to remove the container.',
    }),
  };

  async run(): Promise<UndeployResult> {
    const inv = await this.loadInventory();
    const pool = this.sshPool();
    const state = this.openState();
    try {
      refuseWhileMigrating(state, this.flags.user);
      const r = await undeploy(inv, pool, state, this.flags.user, { forget: this.flags.forget });
      if (r.left) this.warn(`forgot ${r.user}'s placement; ${r.left}`);
      this.say(r.removed ? `Removed ${r.container} from ${r.host}.` : `${r.user} had no service deployed.`);
      return r;
    } finally {
      state.close();
      await pool.closeAll();
    }
  }
}
