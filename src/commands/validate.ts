import { Args } from '@oclif/core';
import chalk from 'chalk';
import { EdgectlCommand } from '../base-command.js';
import { ExitCode } from '../lib/errors.js';
import { formatIssue } from '../lib/inventory/index.js';
import { type ValidateResult, validateInventory } from '../lib/inventory/validate.js';

export default class Validate extends EdgectlCommand<typeof Validate> {
  /** The hosts file only: no state database is read or made. */
  static override baseFlags = { ...EdgectlCommand.globalFlags, hosts: EdgectlCommand.inventoryFlags.hosts };

  static override summary =
    'Check a hosts.yml offline and list every problem in it. Exits 0 when valid, 3 when not.';

  static override description =
    `Reads nothing but the file: no SSH, no state database. Each problem is one line, file:line:column: key: what was expected and what was found (under --json: result.issues).`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> rack.yml --json | jq ".result.issues[]"',
  ];

  static override args = {
    file: Args.string({ description: 'The hosts file (default: the --hosts file, ./hosts.yml).' }),
  };

  async run(): Promise<ValidateResult> {
    const { args } = await this.parse(Validate);
    const r = await validateInventory(args.file ?? this.flags.hosts);
    for (const w of r.warnings) this.warn(w);
    if (r.valid && r.summary) {
      const s = r.summary;
      this.say(
        chalk.green(
          `${r.file} is valid: testbed ${s.testbed}, ${count(s.hosts, 'host')}, ${count(s.basestations, 'base station')}, ${count(s.links, 'link')}, ${count(s.services, 'service')}, ${count(s.users, 'user')}.`,
        ),
      );
    } else {
      for (const issue of r.issues) this.say(formatIssue(issue));
      this.say(chalk.red(`${r.file}: ${count(r.issues.length, 'problem')}.`));
      this.status = ExitCode.inventory;
    }
    return r;
  }
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}
