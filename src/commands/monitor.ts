import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { durationFlag } from '../lib/cli/flags.js';
import { ExitCode, UsageError } from '../lib/errors.js';
import { DEFAULT_INTERVAL_S, type MonitorResult, runMonitor } from '../lib/monitor/monitor.js';
import { DEFAULT_WINDOW_S, type MonitorSnapshot } from '../lib/monitor/snapshot.js';
import { renderTable } from '../lib/util/table.js';

export default class Monitor extends EdgectlCommand<typeof Monitor> {
  static override summary =
    'Fill the state database with live measurements, and export the snapshot the planner reads.';
  static override description =
    `Each round reads every server's CPU, load and memory and its containers', and probes the round trip of every link the planner needs. Unless --once, the users' agents run too (walking, offloading, handing over) until --duration is over or Ctrl+C. The result holds the counts stored and the snapshot plan reads.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --once --json',
    '<%= config.bin %> <%= command.id %> --duration 60',
    '<%= config.bin %> <%= command.id %> --duration 30 --user mu1 --json | jq .result.snapshot.users',
  ];

  static override flags = {
    once: Flags.boolean({
      summary: 'Take one round (no agents) and print the snapshot.',
      exclusive: ['duration', 'no-agents'],
    }),
    duration: durationFlag({ summary: 'Stop after this long (default: at Ctrl+C).', unit: 's', minMs: 1000 }),
    interval: durationFlag({
      summary: 'Time between rounds of server statistics and link probes.',
      unit: 's',
      defaultMs: DEFAULT_INTERVAL_S * 1000,
      minMs: 1000,
    }),
    window: durationFlag({
      summary: "The snapshot's task window.",
      unit: 's',
      defaultMs: DEFAULT_WINDOW_S * 1000,
      minMs: 1000,
    }),
    user: Flags.string({ summary: "Start only this user's agent (repeatable).", multiple: true }),
    'no-agents': Flags.boolean({ summary: 'Start no agents: server statistics and link probes only.' }),
    checkpoints: Flags.boolean({
      summary:
        'Also take two probe checkpoints of each placed container once (S_pre and S_delta for plan); each freezes its service for a moment.',
    }),
  };

  async run(): Promise<MonitorResult> {
    const inv = await this.loadInventory();
    const unknown = (this.flags.user ?? []).filter((u) => !inv.users.some((x) => x.name === u));
    if (unknown.length > 0)
      throw new UsageError(`unknown user ${unknown.join(', ')}`, {
        hint: `users in ${this.flags.hosts}: ${inv.users.map((u) => u.name).join(', ') || 'none'}`,
      });
    const pool = this.sshPool();
    const state = this.openState();
    const timed = this.flags.duration !== undefined;
    try {
      if (!this.flags.once)
        this.note(
          `Monitoring testbed ${inv.testbed} ${timed ? `for ${(this.flags.duration ?? 0) / 1000} s` : 'until Ctrl+C'}, a round every ${this.flags.interval / 1000} s...`,
        );
      const users = this.flags['no-agents'] ? [] : this.flags.user;
      const r = await runMonitor(inv, pool, state, {
        once: this.flags.once,
        ...(timed ? { durationMs: this.flags.duration ?? 0 } : {}),
        intervalMs: this.flags.interval,
        windowS: this.flags.window / 1000,
        ...(users ? { users } : {}),
        checkpoints: this.flags.checkpoints,
        signal: this.signal,
        onEvent: (e) => {
          if (e.type === 'agent')
            this.note(`${e.user}: agent running on ${e.host}, on ${e.bs ?? 'no base station'}`);
          else if (e.type === 'round')
            this.note(
              `round ${e.n}: ${e.hostStats} host/container readings, ${e.links} link RTTs (${(e.ms / 1000).toFixed(1)} s)`,
            );
          else if (e.type === 'probe')
            this.note(
              e.probe
                ? `${e.user}: probe checkpoints on ${e.host}: ${(e.probe.preBytes / 2 ** 20).toFixed(1)} MB, delta ${(e.probe.deltaBytes / 2 ** 10).toFixed(0)} kB (${e.probe.checkpointMs.map((m) => m.toFixed(0)).join(' and ')} ms)`
                : `${e.user}: probe checkpoints on ${e.host} failed: ${e.error}`,
            );
          else this.note(`Stopping (${e.reason}): the agents put back what they changed...`);
        },
      });
      for (const w of r.warnings) this.warn(w);
      if (!this.jsonEnabled()) this.say(renderResult(r));
      // Ctrl+C is how an open-ended monitor ends; it cut a timed one short.
      if (r.ended === 'interrupted' && timed) this.status = ExitCode.interrupted;
      return r;
    } finally {
      state.close();
      await pool.closeAll();
    }
  }
}

const ms = (v: number | null | undefined, digits = 1) =>
  v === null || v === undefined ? '-' : v.toFixed(digits);

function renderSnapshot(s: MonitorSnapshot): string {
  const bss = [...new Set(s.users.flatMap((u) => Object.keys(u.report?.rssi ?? {})))];
  const users = renderTable([
    [
      'USER',
      'BS',
      'AGE s',
      ...bss.map((b) => `${b} dBm`),
      'SERVER',
      `TASKS/${s.windowS}s`,
      'E2E ms',
      'PROC ms',
      'TX ms',
    ],
    ...s.users.map((u) => [
      u.user,
      u.report?.bs ?? '-',
      ms(u.report?.ageS),
      ...bss.map((b) => ms(u.report?.rssi[b])),
      u.placement?.host ?? '-',
      `${u.tasks.ok}/${u.tasks.count}`,
      ms(u.tasks.e2eMs.median),
      ms(u.tasks.procMs.median),
      ms(u.tasks.txMs.median),
    ]),
  ]);
  const servers = renderTable([
    ['SERVER', 'CPU SCORE', 'LOAD1', 'CPU %', 'CONTAINERS', 'FREE CPUS', 'FREE MB'],
    ...s.servers.map((h) => [
      h.host,
      ms(h.cpuScore, 0),
      ms(h.load1, 2),
      ms(h.cpuPct),
      String(h.containers.length),
      String(h.free.cpus),
      String(h.free.memMB),
    ]),
  ]);
  const links = renderTable([
    ['FROM', 'TO', 'RTT ms', 'HOSTS.YML ms', 'BANDWIDTH', 'LATENCY'],
    ...s.links.map((l) => [
      l.from,
      l.to,
      ms(l.rttMs),
      ms(l.expectedRttMs),
      l.bandwidthBps === null ? '-' : `${l.bandwidthBps / 1e6} Mbit/s`,
      l.latencyMethod ?? (l.latencyEmulated === false ? 'not emulated' : '?'),
    ]),
  ]);
  return [users, servers, links].join('\n\n');
}

function renderResult(r: MonitorResult): string {
  const st = r.stored;
  const head =
    r.ended === 'once'
      ? `One round in ${(r.durationMs / 1000).toFixed(1)} s.`
      : `${r.rounds} rounds in ${(r.durationMs / 1000).toFixed(0)} s (${r.ended}); agents: ${
          r.agents
            .map(
              (a) => `${a.user} ${a.started ? `${a.tasks} tasks, ${a.handovers} handovers` : 'not started'}`,
            )
            .join('; ') || 'none'
        }.`;
  const counts = `Stored: ${st.userReports} user reports, ${st.tasks} tasks, ${st.handovers} handovers, ${st.gaps} gaps, ${st.hostStats} host/container readings, ${st.linkProbes} link probes.`;
  return [head, counts, '', renderSnapshot(r.snapshot)].join('\n');
}
