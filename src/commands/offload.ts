import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { durationFlag } from '../lib/cli/flags.js';
import { ExitCode } from '../lib/errors.js';
import { type OffloadResult, offload } from '../lib/mu/offload.js';
import { describeLatency, warnUnemulated } from '../lib/provision/latency.js';
import { renderTable } from '../lib/util/table.js';

export default class Offload extends EdgectlCommand<typeof Offload> {
  static override summary =
    "Send tasks from a user's machine, through its current base station, to its service.";
  static override description =
    `Sends the tasks from the user's own address on its mu host, so they take the user's radio path, and gives each task's end-to-end, processing and transmission time. Every task is recorded in the state database. Exits 5 when a task failed.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> --user mu1',
    '<%= config.bin %> <%= command.id %> --user mu1 --count 5 --size 20000 --json',
  ];

  static override flags = {
    user: Flags.string({ summary: 'The user (hosts.yml users[].name).', required: true }),
    count: Flags.integer({ summary: 'Tasks to send.', default: 1, min: 1, max: 100_000 }),
    size: Flags.integer({
      summary:
        "Payload bytes per task, seeded bytes instead of frames (default: the user's frames or task size in hosts.yml).",
      min: 0,
      max: 64 * 1024 * 1024 - 1024,
    }),
    timeout: durationFlag({
      summary: 'Give up on a task after this long (reconnects included).',
      unit: 'ms',
      defaultMs: 10_000,
      minMs: 1,
      aliases: ['timeout-ms'],
    }),
  };

  async run(): Promise<OffloadResult> {
    const inv = await this.loadInventory();
    const pool = this.sshPool();
    const state = this.openState();
    try {
      const r = await offload(inv, pool, state, {
        user: this.flags.user,
        count: this.flags.count,
        ...(this.flags.size === undefined ? {} : { sizeBytes: this.flags.size }),
        timeoutMs: this.flags.timeout,
      });
      if (!this.jsonEnabled()) {
        this.say(
          `${r.user} via ${r.bs} to ${r.service} on ${r.host} (${r.endpoint.address}:${r.endpoint.port}):`,
        );
        this.say(
          renderTable([
            ['#', 'COUNTER', 'E2E ms', 'PROC ms', 'TX ms', 'RESULT'],
            ...r.tasks.map((t, i) => [
              String(i + 1),
              String(t.counter ?? '-'),
              t.e2eMs.toFixed(1),
              t.procMs?.toFixed(1) ?? '-',
              t.txMs?.toFixed(1) ?? '-',
              t.ok ? 'ok' : (t.error ?? 'failed'),
            ]),
          ]),
        );
      }
      if (!this.jsonEnabled()) this.say(`latency: ${describeLatency(r.latency)}`);
      warnUnemulated(this, r.latency);
      if (r.tasks.some((t) => !t.ok)) this.status = ExitCode.remote;
      return r;
    } finally {
      state.close();
      await pool.closeAll();
    }
  }
}
