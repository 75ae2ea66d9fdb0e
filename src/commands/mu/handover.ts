import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { durationFlag } from '../../lib/cli/flags.js';
import { UsageError } from '../../lib/errors.js';
import { runningAgent } from '../../lib/mu/agent.js';
import { parseAgentSpec } from '../../lib/mu/agent-spec.js';
import { type HandoverOutcome, performHandover } from '../../lib/mu/handover.js';
import { LocalExecutor } from '../../lib/remote/index.js';

export default class MuHandover extends EdgectlCommand<typeof MuHandover> {
  static override hidden = true;
  static override baseFlags = EdgectlCommand.globalFlags;
  static override summary =
    'One handover of a user, done on its machine (what `edgectl handover` runs there).';
  static override description =
    `Plumbing: the controller runs it on the user's machine over SSH. Refuses while the user's agent (mu run) runs: the agent owns the link.`;

  static override flags = {
    spec: Flags.string({ summary: "The user's agent spec as JSON (from the controller).", required: true }),
    to: Flags.string({ summary: 'The base station to hand over to.', required: true }),
    blackout: durationFlag({
      summary: "The disconnection (default: the spec's).",
      unit: 'ms',
      minMs: 0,
      aliases: ['blackout-ms'],
    }),
  };

  async run(): Promise<HandoverOutcome> {
    const spec = parseAgentSpec(this.flags.spec);
    const agent = await runningAgent(spec.testbed, spec.user);
    if (agent)
      throw new UsageError(
        `${spec.user}'s agent runs on this machine (pid ${agent}) and owns its radio link`,
        {
          hint: 'send the agent {"cmd":"handover","to":"BS"} on its stdin, or stop it first',
        },
      );
    return performHandover(new LocalExecutor(), {
      user: spec.user,
      address: spec.address,
      tables: Object.fromEntries(spec.basestations.map((b) => [b.name, b.table])),
      to: this.flags.to,
      blackoutMs: this.flags.blackout ?? spec.blackoutMs,
      endpoint: spec.endpoint,
      attemptTimeoutMs: spec.attemptTimeoutMs,
      signal: this.signal,
    });
  }
}
