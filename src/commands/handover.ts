import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { type HandoverResult, handoverUser } from '../lib/mu/controller.js';

export default class Handover extends EdgectlCommand<typeof Handover> {
  static override summary =
    "Move a user's radio link to another base station: the blackout, then the path switch.";
  static override description =
    `Cuts the user's link for --blackout-ms (500 ms by default, the paper's handover),
then switches its path to --to in one rule replacement. The gap is measured on the user's machine by pinging
its service from the user's own address: durationMs runs from the last answer before the link went down to
the first request sent after it came back that was answered (answerGapMs: to that answer). Recorded in the
state database. Refuses while the user's agent runs (it owns the link: send it a command instead).`;

  static override examples = [
    '<%= config.bin %> handover --user mu1 --to ap2',
    '<%= config.bin %> handover --user mu1 --to ap1 --blackout 0 --json',
  ];

  static override flags = {
    user: Flags.string({ summary: 'The user.', required: true }),
    to: Flags.string({ summary: 'The base station to move it to.', required: true }),
    blackout: Flags.integer({ summary: 'The disconnection, in ms.', default: 500, min: 0, max: 60_000 }),
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
