import chalk from 'chalk';
import { EdgectlCommand } from '../../base-command.js';
import { ExitCode } from '../../lib/errors.js';
import { type LabStatus, labStatus } from '../../lib/lab/lab.js';
import { renderTable } from '../../lib/util/table.js';

export default class LabStatusCommand extends EdgectlCommand<typeof LabStatusCommand> {
  static override summary = 'Show what of the local lab runs. Exits 0 when the whole lab is up, 6 otherwise.';

  async run(): Promise<LabStatus> {
    const inv = await this.loadInventory();
    const status = await labStatus(inv);
    if (!this.jsonEnabled()) {
      const yes = (v: boolean | null) =>
        v === null ? chalk.dim('-') : v ? chalk.green('yes') : chalk.red('no');
      this.say(
        renderTable([
          ['HOST', 'ROLE', 'NETNS', 'ADDRESS', 'SSHD', 'DOCKERD', 'RUNNING'],
          ...status.hosts.map((h) => [
            h.name,
            h.role,
            h.netns,
            h.address,
            yes(h.sshd),
            yes(h.dockerd),
            yes(h.running),
          ]),
        ]),
      );
      this.say(
        status.up
          ? chalk.green(`Lab ${status.testbed} is up.`)
          : chalk.yellow(`Lab ${status.testbed} is not (fully) up.`),
      );
    }
    if (!status.up) this.status = ExitCode.notReady;
    return status;
  }
}
