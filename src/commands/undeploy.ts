import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { type UndeployResult, undeploy } from '../lib/docker/deploy.js';

export default class Undeploy extends EdgectlCommand<typeof Undeploy> {
  static override summary = "Remove a user's service container and its placement.";

  static override flags = {
    user: Flags.string({ summary: 'The user (hosts.yml users[].name).', required: true }),
  };

  async run(): Promise<UndeployResult> {
    const inv = await this.loadInventory();
    const pool = this.sshPool();
    const state = this.openState();
    try {
      const r = await undeploy(inv, pool, state, this.flags.user);
      this.say(r.removed ? `Removed ${r.container} from ${r.host}.` : `${r.user} had no service deployed.`);
      return r;
    } finally {
      state.close();
      await pool.closeAll();
    }
  }
}
