import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { type LabUpResult, labUp } from '../../lib/lab/lab.js';

export default class LabUp extends EdgectlCommand<typeof LabUp> {
  static override summary = 'Build the testbed of hosts.yml on this machine (the local emulated lab).';
  static override description =
    `Every host of the inventory becomes a network namespace with its own sshd listening
on the host's address (a lab-generated host key, recorded in the inventory's known_hosts) and, for servers,
its own dockerd (experimental mode, the working CRIU). The wired hosts share one switch; each access point
has a radio side towards the mobile-user host. This machine reaches the management network through one veth.
Needs root. Idempotent: a lab that is up is left alone; leftovers of a killed lab are cleared first.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> -f hosts.yml --json',
  ];

  static override flags = {
    'session-delay': Flags.integer({
      summary:
        'Make every new SSH session on every lab host wait this many ms first, and log it (for tests).',
      description:
        'What a slow login shell costs on real machines (conda, pyenv or nvm in ~/.bashrc: 0.1-2 s a session). Each session is logged in /run/edgectl/TESTBED/HOST/sessions.log. A lab built with another value is rebuilt.',
      env: 'EDGECTL_LAB_SESSION_DELAY_MS',
      min: 0,
      default: 0,
    }),
  };

  async run(): Promise<LabUpResult> {
    const inv = await this.loadInventory();
    this.note(`Building lab ${inv.testbed} (${inv.hosts.length} hosts)...`);
    const result = await labUp(inv, {
      sessionDelayMs: this.flags['session-delay'],
      signal: this.signal,
      onStep: (s) => this.note(`  ✓ ${s.name}${s.detail ? ` (${s.detail})` : ''} ${s.ms} ms`),
    });
    if (!this.jsonEnabled()) {
      this.say(
        result.built
          ? `Lab ${result.testbed} is up: ${result.hosts.length} hosts reachable from ${result.controller.address}.`
          : `Lab ${result.testbed} was already up.`,
      );
    }
    return result;
  }
}
