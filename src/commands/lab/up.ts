import { EdgectlCommand } from '../../base-command.js';
import { durationFlag } from '../../lib/cli/flags.js';
import { type LabUpResult, labUp } from '../../lib/lab/lab.js';

export default class LabUp extends EdgectlCommand<typeof LabUp> {
  static override summary = 'Build the testbed of hosts.yml on this machine (the local emulated lab).';
  static override description =
    `Every host of hosts.yml becomes a network namespace with its own sshd and, for servers, its own dockerd with CRIU. Needs root. Idempotent: a lab that is up is left alone; leftovers of a killed one are cleared.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> -f hosts.yml --json',
  ];

  static override flags = {
    'session-delay': durationFlag({
      summary: 'Make every new SSH session on every lab host wait this long first, and log it (for tests).',
      description:
        'What a slow login shell costs on real machines (0.1-2 s a session). A lab built with another value is rebuilt.',
      unit: 'ms',
      env: 'EDGECTL_LAB_SESSION_DELAY_MS',
      minMs: 0,
      defaultMs: 0,
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
