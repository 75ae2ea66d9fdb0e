import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { type LabDownResult, labDown } from '../../lib/lab/lab.js';

export default class LabDown extends EdgectlCommand<typeof LabDown> {
  static override summary =
    'Remove the local lab: every namespace, interface, process, mount and runtime file it made.';
  static override description =
    `Stops the lab's dockerds (their containers with them) and sshds, kills whatever is left in
the lab's namespaces and cgroups, unmounts what lies under its runtime and data directories, deletes its
namespaces (and so its veths and bridges) and the controller's veth. Works after a killed lab up too.
Docker data (loaded images) is kept for the next lab up unless --purge.`;

  static override flags = {
    purge: Flags.boolean({
      summary: "Also delete the lab dockerds' data roots (images, containers).",
      default: false,
    }),
  };

  async run(): Promise<LabDownResult> {
    const inv = await this.loadInventory();
    const result = await labDown(inv, {
      purge: this.flags.purge,
      onStep: (s) => this.verbose(`  ✓ ${s.name} ${s.ms} ms`),
    });
    if (!this.jsonEnabled()) {
      this.say(
        result.namespaces.length > 0
          ? `Lab ${result.testbed} is down (${result.namespaces.length} namespaces removed).`
          : `Lab ${result.testbed} was not up; nothing of it is left on this machine.`,
      );
    }
    return result;
  }
}
