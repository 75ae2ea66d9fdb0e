import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { type InitResult, initInventory } from '../lib/inventory/init.js';

export default class Init extends EdgectlCommand<typeof Init> {
  /** The hosts file only: no state database is read or made. */
  static override baseFlags = { ...EdgectlCommand.globalFlags, hosts: EdgectlCommand.inventoryFlags.hosts };

  static override summary = 'Write a hosts.yml to start from: the local lab, or a rack to fill in.';

  static override description =
    `--lab (the default) writes the inventory that \`edgectl lab up\` builds on this machine. --rack writes a rack's, with example values to replace (each marked CHANGE). Both validate as written. An existing file is never replaced without --force.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --rack --out rack.yml',
  ];

  static override flags = {
    lab: Flags.boolean({ summary: 'The local lab (the default).', exclusive: ['rack'] }),
    rack: Flags.boolean({ summary: 'A rack of real machines, with values to fill in.', exclusive: ['lab'] }),
    out: Flags.string({ summary: 'The file to write (default: the --hosts file, ./hosts.yml).' }),
    force: Flags.boolean({ summary: 'Replace the file if it exists.' }),
  };

  async run(): Promise<InitResult> {
    const out = this.flags.out ?? this.flags.hosts;
    const r = await initInventory({ kind: this.flags.rack ? 'rack' : 'lab', out, force: this.flags.force });
    this.say(`Wrote ${out} (${r.kind === 'lab' ? 'the local lab' : 'a rack to fill in'}).`);
    this.say(
      r.kind === 'lab'
        ? `Next: edgectl validate${out === 'hosts.yml' ? '' : ` ${out}`}, then sudo edgectl lab up`
        : `Next: replace the values marked CHANGE, then edgectl validate${out === 'hosts.yml' ? '' : ` ${out}`} and edgectl hosts check`,
    );
    return r;
  }
}
