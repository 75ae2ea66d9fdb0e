import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Flags } from '@oclif/core';
import chalk from 'chalk';
import { EdgectlCommand } from '../base-command.js';
import { ExitCode, UsageError } from '../lib/errors.js';
import { type InstallReport, installDeps } from '../lib/provision/install.js';
import {
  LATENCY_MODES,
  type LatencyMode,
  type ProvisionResult,
  provision,
} from '../lib/provision/provision.js';
import type { StateDb } from '../lib/state/index.js';

export default class Provision extends EdgectlCommand<typeof Provision> {
  static override summary =
    "Prepare every host: link shaping, NAT on the APs, the users' paths, host-to-host trust.";
  static override description =
    `Shapes each wired host's links (bandwidth and latency, with netem or edgectl-delay: --latency), NATs the APs' radio sides, gives each user its own address and path, and lets the servers push checkpoints to each other. Changes only what differs: a second run changes nothing. --reset removes what it made, and only that.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --dry-run',
    '<%= config.bin %> <%= command.id %> --reset',
    '<%= config.bin %> <%= command.id %> --install-deps --host edge1',
  ];

  static override flags = {
    'dry-run': Flags.boolean({
      summary: 'Read the hosts and print the commands that would run; change nothing.',
    }),
    reset: Flags.boolean({
      summary: 'Remove everything provisioning made (and nothing else).',
      exclusive: ['install-deps'],
    }),
    latency: Flags.string({
      summary:
        'How to emulate link latency: netem where the kernel has it, else edgectl-delay (auto), or one of them.',
      options: [...LATENCY_MODES],
      default: 'auto',
    }),
    'require-latency': Flags.boolean({
      summary: "Fail, before changing anything, where a host's link latency cannot be emulated.",
    }),
    'install-deps': Flags.boolean({
      summary:
        "Install each host's prerequisites for its role (Debian/Ubuntu) with scripts/install-host-deps.sh.",
    }),
    host: Flags.string({ summary: 'Only this host (repeatable).', multiple: true }),
  };

  async run(): Promise<ProvisionResult | { hosts: InstallReport[] }> {
    const inv = await this.loadInventory();
    const only = this.flags.host ?? [];
    const unknown = only.filter((n) => !inv.hosts.some((h) => h.name === n));
    if (unknown.length > 0) {
      throw new UsageError(`unknown host ${unknown.join(', ')}`, {
        hint: `hosts: ${inv.hosts.map((h) => h.name).join(', ')}`,
      });
    }
    const pool = this.sshPool();
    try {
      if (this.flags['install-deps']) {
        const script = await readFile(
          fileURLToPath(new URL('../../scripts/install-host-deps.sh', import.meta.url)),
          'utf8',
        );
        const hosts = await installDeps(inv, pool, script, {
          only,
          onHost: (r) => this.note(`  ${r.ok ? '✓' : '✗'} ${r.name}: ${r.summary}`),
        });
        if (hosts.some((h) => !h.ok)) this.status = ExitCode.remote;
        return { hosts };
      }
      const what = this.flags.reset ? 'Resetting' : this.flags['dry-run'] ? 'Planning' : 'Provisioning';
      this.note(`${what} ${only.length || inv.hosts.length} hosts of testbed ${inv.testbed}...`);
      const result = await provision(inv, pool, {
        dryRun: this.flags['dry-run'],
        reset: this.flags.reset,
        latency: this.flags.latency as LatencyMode,
        requireLatency: this.flags['require-latency'],
        only,
        signal: this.signal,
        onHost: (h) =>
          this.verbose(`${h.name}: ${h.changed ? `${h.commands.length} commands` : 'no change'}`),
      });
      if (!result.dryRun) recordLatency(this.openState(), result);
      for (const h of result.hosts) {
        if (h.latencyEmulated === false && !result.reset) {
          this.warn(
            `${h.name}: link latency is NOT emulated there (latencyEmulated: false), only bandwidth: ${(h.latencyReasons ?? []).join('; ')}`,
          );
        }
        for (const n of h.notes ?? []) this.warn(`${h.name}: ${n}`);
      }
      if (!this.jsonEnabled()) this.say(render(result));
      if (!result.ok) this.status = ExitCode.remote;
      return result;
    } finally {
      await pool.closeAll();
    }
  }
}

/** What each host now emulates, for the results of later commands (offload, migrate) to say. */
function recordLatency(state: StateDb, result: ProvisionResult): void {
  try {
    const now = Date.now();
    state.transaction(() => {
      for (const h of result.hosts) {
        if (h.error || h.role === 'mu') continue;
        if (result.reset) state.hostFacts.setLatency(h.name, false, null, now);
        else if (h.latencyEmulated !== null)
          state.hostFacts.setLatency(h.name, h.latencyEmulated, h.latencyMethod, now);
      }
    });
  } finally {
    state.close();
  }
}

function render(result: ProvisionResult): string {
  const lines: string[] = [];
  for (const h of result.hosts) {
    const state = h.error
      ? chalk.red('FAILED')
      : h.changed
        ? chalk.yellow(result.dryRun ? 'would change' : 'changed')
        : chalk.green('no change');
    const latency =
      h.latencyEmulated === null || result.reset
        ? ''
        : chalk.dim(`  latency: ${h.latencyMethod ?? chalk.yellow('not emulated')}`);
    lines.push(`${chalk.bold(h.name)} (${h.role}): ${state}${latency}`);
    if (result.dryRun || h.error) for (const c of h.commands) lines.push(`    ${c}`);
    if (h.error) {
      lines.push(chalk.red(`    error: ${h.error.message}`));
      if (h.error.stderr) lines.push(chalk.red(`    stderr: ${h.error.stderr}`));
    }
  }
  lines.push(
    result.ok
      ? result.changed
        ? 'Done.'
        : 'Every host was already as hosts.yml asks.'
      : chalk.red('Some hosts failed; the others are consistent.'),
  );
  return lines.join('\n');
}
