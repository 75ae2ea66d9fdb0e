import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { durationFlag } from '../lib/cli/flags.js';
import { type HandoverResult, handoverUser } from '../lib/mu/controller.js';

export default class Handover extends EdgectlCommand<typeof Handover> {
  static override summary =
    "Move a user's radio link to another base station: the blackout, then the path switch.";
  static override description =
    `Cuts the user's link for --blackout (500ms, the paper's handover), then switches its path to --to. The gap is measured from the user's machine and recorded in the state database. Refuses while the user's agent runs: it owns the link.`;

  static override examples = [
    '<%= config.bin %> handover --user mu1 --to ap2',
    '<%= config.bin %> handover --user mu1 --to ap1 --blackout 0 --json',
    '<%= config.bin %> handover --user mu1 --to ap2 --blackout 50ms',
  ];

  static override flags = {
    user: Flags.string({ summary: 'The user.', required: true }),
    to: Flags.string({ summary: 'The base station to move it to.', required: true }),
    blackout: durationFlag({
      summary: 'The disconnection.',
      unit: 'ms',
      defaultMs: 500,
      minMs: 0,
      maxMs: 60_000,
      aliases: ['blackout-ms'],
    }),
  };

  async run(): Promise<HandoverResult> {
    const inv = await this.loadInventory();
    const pool = this.sshPool();
    const state = this.openState();
    try {
      const r = await handoverUser(inv, pool, state, {
        user: this.flags.user,
        to: this.flags.to,
        blackoutMs: this.flags.blackout,
      });
      this.say(
        `${r.user}: ${r.from ?? '?'} -> ${r.to}, link down ${r.linkDownMs.toFixed(0)} ms, gap ${r.durationMs === null ? 'not measured (no service answering)' : `${r.durationMs.toFixed(0)} ms`}`,
      );
      return r;
    } finally {
      state.close();
      await pool.closeAll();
    }
  }
}
