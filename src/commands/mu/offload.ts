import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { durationFlag } from '../../lib/cli/flags.js';
import { ExitCode } from '../../lib/errors.js';
import { sendTasks, type TaskResult } from '../../lib/mu/client.js';

export default class MuOffload extends EdgectlCommand<typeof MuOffload> {
  static override hidden = true;
  static override baseFlags = EdgectlCommand.globalFlags;
  static override summary =
    'Send tasks to a service from this machine (what `edgectl offload` runs on the mu host).';
  static override description =
    `Plumbing: what offload runs on the user's machine. Needs no hosts.yml. Exits 5 when a task failed.`;

  static override flags = {
    address: Flags.string({ summary: "The service's address.", required: true }),
    port: Flags.integer({ summary: "The service's port.", required: true, min: 1, max: 65535 }),
    'local-address': Flags.string({ summary: "Send from this address (the user's own)." }),
    user: Flags.string({ summary: 'The user, sent in each task header.' }),
    count: Flags.integer({ summary: 'Tasks to send.', default: 1, min: 1 }),
    size: Flags.integer({ summary: 'Payload bytes per task.', default: 10_000, min: 0 }),
    timeout: durationFlag({
      summary: 'Give up on a task after this long.',
      unit: 'ms',
      defaultMs: 10_000,
      minMs: 1,
      aliases: ['timeout-ms'],
    }),
    interval: durationFlag({
      summary: 'Start tasks this far apart (0: back to back).',
      unit: 'ms',
      defaultMs: 0,
      minMs: 0,
      aliases: ['interval-ms'],
    }),
  };

  async run(): Promise<{ tasks: TaskResult[] }> {
    const f = this.flags;
    const tasks = await sendTasks({
      address: f.address,
      port: f.port,
      ...(f['local-address'] ? { localAddress: f['local-address'] } : {}),
      ...(f.user ? { user: f.user } : {}),
      count: f.count,
      sizeBytes: f.size,
      timeoutMs: f.timeout,
      attemptTimeoutMs: Math.min(f.timeout, 3_000),
      intervalMs: f.interval,
    });
    if (!this.jsonEnabled()) for (const t of tasks) this.say(JSON.stringify(t));
    if (tasks.some((t) => !t.ok)) this.status = ExitCode.remote;
    return { tasks };
  }
}
