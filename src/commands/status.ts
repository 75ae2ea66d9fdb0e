import { Flags } from '@oclif/core';
import chalk from 'chalk';
import { EdgectlCommand } from '../base-command.js';
import { type StatusResult, testbedStatus } from '../lib/status/status.js';
import { renderTable } from '../lib/util/table.js';

export default class Status extends EdgectlCommand<typeof Status> {
  static override summary = 'Show the lab and, for each user, its base station, server, container and agent.';

  static override description =
    `Where each service was deployed comes from the state database; the rest is asked of the hosts now. A host that cannot be reached leaves a "?" in its cells and a line saying why; it does not make the command fail. Changes nothing.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --user mu1 --json | jq ".result.users[0].container.state"',
  ];

  static override flags = {
    user: Flags.string({ summary: 'Only this user (repeatable).', multiple: true }),
  };

  async run(): Promise<StatusResult> {
    const inv = await this.loadInventory();
    const pool = this.sshPool();
    try {
      const r = await testbedStatus(inv, pool, { users: this.flags.user ?? [], stateFile: this.stateFile });
      if (!this.jsonEnabled()) this.render(r);
      return r;
    } finally {
      await pool.closeAll();
    }
  }

  private render(r: StatusResult): void {
    const unknown = chalk.yellow('?');
    if (r.lab) {
      const down = r.lab.hosts.filter((h) => !h.running).map((h) => h.name);
      this.say(
        r.lab.up
          ? chalk.green(`Lab ${r.testbed}: up (${r.lab.hosts.length} hosts).`)
          : chalk.yellow(
              `Lab ${r.testbed}: down${down.length < r.lab.hosts.length ? ` (not running: ${down.join(', ')})` : ''}.`,
            ),
      );
    }
    if (r.state === null) this.say(chalk.dim('No state database yet: nothing has been deployed from here.'));
    if (r.users.length === 0) {
      this.say('hosts.yml has no users.');
      return;
    }
    const state = (s: string | null) =>
      s === null
        ? unknown
        : s === 'running'
          ? chalk.green(s)
          : s === 'absent'
            ? chalk.red(s)
            : chalk.yellow(s);
    this.say(
      renderTable([
        ['USER', 'SERVICE', 'BS', 'SERVER', 'CONTAINER', 'ENDPOINT', 'AGENT'],
        ...r.users.map((u) => [
          u.user,
          u.service,
          u.basestation ?? unknown,
          u.server ?? chalk.dim('-'),
          u.container ? state(u.container.state) : chalk.dim('-'),
          u.container ? `${u.container.endpoint.address}:${u.container.endpoint.port}` : chalk.dim('-'),
          u.agent.running === null
            ? unknown
            : u.agent.running
              ? chalk.green(`running (pid ${u.agent.pid})`)
              : chalk.dim('not running'),
        ]),
      ]),
    );
    for (const u of r.users) for (const e of u.errors) this.say(chalk.yellow(`${u.user}: ${e}`));
  }
}
