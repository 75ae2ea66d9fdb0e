import path from 'node:path';
import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { durationFlag } from '../../lib/cli/flags.js';
import { ExitCode } from '../../lib/errors.js';
import { DEFAULT_TASK, FRAME_WIDTH_RANGE, SAMPLE_FRAMES } from '../../lib/inventory/index.js';
import { sendTasks, type TaskResult } from '../../lib/mu/client.js';
import { framePayload, loadFrames } from '../../lib/mu/frames.js';

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
    frames: Flags.string({
      summary: 'Send camera frames instead: "samples" or a directory of JPEG files (task i: frame i mod n).',
      exclusive: ['size'],
    }),
    'frame-width': Flags.integer({
      summary: 'The long side of a frame after scaling (pixels).',
      default: DEFAULT_TASK.frameWidth,
      min: FRAME_WIDTH_RANGE[0],
      max: FRAME_WIDTH_RANGE[1],
    }),
    'frame-quality': Flags.integer({
      summary: 'JPEG quality of the scaled frames.',
      default: DEFAULT_TASK.frameQuality,
      min: 1,
      max: 100,
    }),
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
    const frames =
      f.frames === undefined
        ? undefined
        : await loadFrames({
            frames: f.frames === SAMPLE_FRAMES ? SAMPLE_FRAMES : path.resolve(f.frames),
            frameWidth: f['frame-width'],
            frameQuality: f['frame-quality'],
          });
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
      ...(frames ? { payload: (index: number) => framePayload(frames, index) } : {}),
    });
    if (!this.jsonEnabled()) for (const t of tasks) this.say(JSON.stringify(t));
    if (tasks.some((t) => !t.ok)) this.status = ExitCode.remote;
    return { tasks };
  }
}
