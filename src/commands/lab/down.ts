import { existsSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { type LabDownResult, labDown } from '../../lib/lab/lab.js';
import { planLab } from '../../lib/lab/plan.js';

export interface LabDownCommandResult extends LabDownResult {
  /** Placements of the state database forgotten because their server's dockerd went with the lab. */
  placementsForgotten: number;
}

export default class LabDown extends EdgectlCommand<typeof LabDown> {
  static override summary =
    'Remove the local lab: every namespace, interface, process, mount and runtime file it made.';
  static override description =
    `Stops the lab's dockerds and sshds and removes its namespaces, interfaces, mounts and runtime files, also after a killed lab up. Loaded images are kept unless --purge. Placements on its servers are forgotten.`;

  static override flags = {
    purge: Flags.boolean({
      summary: "Also delete the lab dockerds' data roots (images, containers).",
      default: false,
    }),
  };

  async run(): Promise<LabDownCommandResult> {
    const inv = await this.loadInventory();
    const result = await labDown(inv, {
      purge: this.flags.purge,
      onStep: (s) => this.verbose(`  ✓ ${s.name} ${s.ms} ms`),
    });
    // Only the servers whose namespace this run removed: a lab that was not up took no container down.
    const removed = new Set(result.namespaces);
    const servers = planLab(inv)
      .hosts.filter((h) => h.docker && removed.has(h.ns))
      .map((h) => h.name);
    let placementsForgotten = 0;
    const gone = planLab(inv)
      .hosts.filter((h) => removed.has(h.ns))
      .map((h) => h.name);
    if (gone.length > 0 && existsSync(this.stateFile)) {
      const state = this.openState();
      try {
        placementsForgotten = state.placements.removeOn(servers, Date.now(), 'lab down').length;
        // A new lab is not provisioned: what provision recorded of its links' latency no longer holds.
        for (const name of gone) state.hostFacts.setLatency(name, null, null, Date.now());
      } finally {
        state.close();
      }
    }
    if (!this.jsonEnabled()) {
      this.say(
        result.namespaces.length > 0
          ? `Lab ${result.testbed} is down (${result.namespaces.length} namespaces removed${
              placementsForgotten > 0 ? `, ${placementsForgotten} placements forgotten` : ''
            }).`
          : `Lab ${result.testbed} was not up; nothing of it is left on this machine.`,
      );
    }
    return { ...result, placementsForgotten };
  }
}
