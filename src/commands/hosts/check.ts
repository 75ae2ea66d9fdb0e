import { Flags } from '@oclif/core';
import chalk from 'chalk';
import { EdgectlCommand } from '../../base-command.js';
import { ExitCode, UsageError } from '../../lib/errors.js';
import { type ChecksReport, checkHosts, type HostReport } from '../../lib/hosts/check.js';
import { ensureCpuScores } from '../../lib/hosts/score.js';
import { renderTable } from '../../lib/util/table.js';

export default class HostsCheck extends EdgectlCommand<typeof HostsCheck> {
  static override summary = 'Check that every host is reachable over SSH and ready for its role.';
  static override description =
    `Connects to every host at once (host keys checked against hosts.yml's known_hosts) and probes what its role needs: Docker and CRIU on servers, tc and iptables everywhere, node and edgectl on mu hosts. Says why for each host that is not ready. Exits 0 when every host is ready, 4 when any is unreachable over SSH, 6 when all answer but some are not ready.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --host edge1 --host edge2',
    '<%= config.bin %> <%= command.id %> -f lab.yml --json | jq ".result.hosts[] | select(.ready | not)"',
  ];

  static override flags = {
    host: Flags.string({ summary: 'Check only this host (repeatable).', multiple: true }),
    bench: Flags.boolean({
      summary: "Measure every ready server's CPU score again (otherwise once, then kept).",
    }),
  };

  async run(): Promise<ChecksReport> {
    const inv = await this.loadInventory();
    const only = this.flags.host ?? [];
    const unknown = only.filter((name) => !inv.hosts.some((h) => h.name === name));
    if (unknown.length > 0) {
      throw new UsageError(`unknown host ${unknown.join(', ')}`, {
        hint: `hosts in ${this.flags.hosts}: ${inv.hosts.map((h) => h.name).join(', ')}`,
      });
    }
    const pool = this.sshPool();
    try {
      const count = only.length || inv.hosts.length;
      this.note(`Checking ${count} host${count === 1 ? '' : 's'} of testbed ${inv.testbed}...`);
      const report = await checkHosts(inv, pool, {
        only,
        onHost: (r) =>
          this.verbose(`${r.name}: ${r.ready ? 'ready' : `not ready (${r.errors.length} problems)`}`),
      });
      const state = this.openState();
      try {
        await ensureCpuScores(inv, pool, state, report.hosts, { force: this.flags.bench });
        // A dead (or revived) edgectl-delay changes what later results can say about their latency.
        for (const h of report.hosts)
          if (h.latency?.running != null)
            state.hostFacts.setLatency(
              h.name,
              h.latency.running,
              h.latency.running ? 'nfqueue' : null,
              Date.now(),
            );
      } finally {
        state.close();
      }
      for (const host of report.hosts) for (const w of host.warnings) this.warn(`${host.name}: ${w}`);
      if (!this.jsonEnabled()) this.say(renderReport(report));
      this.status = checkExitCode(report);
      return report;
    } finally {
      await pool.closeAll();
    }
  }
}

/**
 * The exit code of a check: 4 (unreachable) when any host cannot be reached over SSH, whatever the others;
 * 6 (not ready) when every host answered but some are not ready for their role; 0 otherwise.
 */
export function checkExitCode(report: Pick<ChecksReport, 'hosts'>): number {
  if (report.hosts.some((h) => !h.ssh.ok)) return ExitCode.unreachable;
  if (report.hosts.some((h) => !h.ready)) return ExitCode.notReady;
  return ExitCode.ok;
}

function mark(ok: boolean | null | undefined, text = ''): string {
  if (ok === null || ok === undefined) return chalk.dim('-');
  return ok ? chalk.green(text || 'ok') : chalk.red(text || 'no');
}

function latencyCell(h: HostReport): string {
  const l = h.latency;
  if (!l) return mark(null);
  if (l.running === false) return chalk.yellow('nfqueue DOWN');
  if (l.method === null) return chalk.yellow('none');
  return chalk.green(l.method);
}

function renderReport(report: ChecksReport): string {
  const header = [
    'HOST',
    'ROLE',
    'SSH',
    'DOCKER',
    'CRIU',
    'HTB',
    'LATENCY',
    'IPTABLES',
    'RSYNC',
    'XDELTA3',
    'EDGECTL',
    'CPU',
    'READY',
  ];
  const rows = report.hosts.map((h: HostReport) => [
    h.name,
    h.role,
    h.ssh.ok ? chalk.green(`ok ${h.ssh.ms ?? ''}ms`) : chalk.red(h.ssh.reason ?? 'no'),
    h.docker
      ? mark(h.docker.ok, `${h.docker.version ?? 'no'}${h.docker.experimental ? ' exp' : ''}`)
      : mark(null),
    h.criu ? mark(h.criu.ok, h.criu.version ?? 'no') : mark(null),
    mark(h.htb),
    latencyCell(h),
    mark(h.iptables?.ok),
    mark(h.rsync?.ok),
    mark(h.xdelta3?.ok),
    h.edgectl ? mark(h.edgectl.ok && h.node?.ok === true, h.edgectl.version ?? 'no') : mark(null),
    h.cpuScore ? String(Math.round(h.cpuScore)) : chalk.dim('-'),
    h.ready ? chalk.green('ready') : chalk.red('NOT READY'),
  ]);
  const lines = [renderTable([header, ...rows])];
  for (const h of report.hosts) {
    for (const e of h.errors) lines.push(`${chalk.red('✗')} ${h.name}: ${e}`);
    if (!h.ssh.ok && h.ssh.hint) lines.push(`  try: ${h.ssh.hint}`);
  }
  lines.push(
    report.ready
      ? chalk.green(`All ${report.hosts.length} hosts are ready.`)
      : chalk.red(
          `${report.hosts.filter((h) => !h.ready).length} of ${report.hosts.length} hosts are not ready.`,
        ),
  );
  return lines.join('\n');
}
