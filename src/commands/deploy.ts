import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { type DeployResult, deploy } from '../lib/docker/deploy.js';
import { refuseWhileMigrating } from '../lib/migration/recover.js';

export default class Deploy extends EdgectlCommand<typeof Deploy> {
  static override summary = "Start a user's service on a server and record the placement.";
  static override description =
    `Creates the user's container from its service in hosts.yml (image, env, CPU and memory limits), with its port published on the server's data address, waits until it answers and records the placement. Deploying what already runs returns it; nothing is left behind on failure.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --user mu1 --service compute --host edge1',
  ];

  static override flags = {
    user: Flags.string({ summary: 'The user (hosts.yml users[].name).', required: true }),
    service: Flags.string({ summary: "The service (default: the user's service in hosts.yml)." }),
    host: Flags.string({ summary: 'The server to run it on (a cloud or edge host).', required: true }),
  };

  async run(): Promise<DeployResult> {
    const inv = await this.loadInventory();
    const service = this.flags.service ?? inv.users.find((u) => u.name === this.flags.user)?.service ?? '';
    const pool = this.sshPool();
    const state = this.openState();
    try {
      refuseWhileMigrating(state, this.flags.user);
      const r = await deploy(inv, pool, state, { user: this.flags.user, service, host: this.flags.host });
      this.say(
        `${r.already ? 'Already running' : 'Deployed'}: ${r.service} for ${r.user} on ${r.host} (${r.container}), at ${r.endpoint.address}:${r.endpoint.port}`,
      );
      return r;
    } finally {
      state.close();
      await pool.closeAll();
    }
  }
}
