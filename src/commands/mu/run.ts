import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { durationFlag } from '../../lib/cli/flags.js';
import { errorMessage, UsageError } from '../../lib/errors.js';
import { MuAgent } from '../../lib/mu/agent.js';
import type { ByeReport } from '../../lib/mu/agent-protocol.js';
import { LineSplitter, parseAgentCommand } from '../../lib/mu/agent-protocol.js';
import { type AgentSpec, agentSpec, parseAgentSpec } from '../../lib/mu/agent-spec.js';

export default class MuRun extends EdgectlCommand<typeof MuRun> {
  static override hidden = true;
  static override summary =
    "The virtual mobile user: walks, hands over, offloads and reports (runs on the user's machine).";
  static override description =
    `Plumbing: monitor and experiment run start it over SSH. Speaks JSON lines: reports on stdout, commands on stdin. Without --spec it reads hosts.yml and the state database itself.`;

  static override flags = {
    user: Flags.string({ summary: 'The user to play.', required: true }),
    spec: Flags.string({
      summary: 'The agent spec as JSON (what the controller passes; default: from hosts.yml).',
    }),
    duration: durationFlag({ summary: 'Stop after this long (0: until stopped).', unit: 's', minMs: 0 }),
    handover: Flags.string({
      summary: 'auto: hand over by the RSSI hysteresis rule; controller: only when told.',
      options: ['auto', 'controller'],
    }),
    blackout: durationFlag({
      summary: 'The disconnection of a handover.',
      unit: 'ms',
      minMs: 0,
      aliases: ['blackout-ms'],
    }),
  };

  /** The envelope on one line: the output stays JSON lines. */
  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json)}\n`);
  }

  async run(): Promise<ByeReport> {
    const f = this.flags;
    let spec: AgentSpec;
    if (f.spec) spec = parseAgentSpec(f.spec);
    else {
      const inv = await this.loadInventory();
      const state = this.openState();
      try {
        spec = agentSpec(inv, f.user, state.placements.get(f.user));
      } finally {
        state.close();
      }
    }
    if (spec.user !== f.user) throw new UsageError(`--spec is for user ${spec.user}, not ${f.user}`);
    if (f.duration !== undefined) spec.durationS = f.duration / 1000;
    if (f.handover) spec.handover = f.handover as AgentSpec['handover'];
    if (f.blackout !== undefined) spec.blackoutMs = f.blackout;

    const agent = new MuAgent(spec, {
      emit: (r) => {
        process.stdout.write(`${JSON.stringify(r)}\n`);
      },
    });
    // The SSH session gone: stdout breaks (EPIPE) and stdin ends. Either way the agent cleans up and ends.
    process.stdout.on('error', () => agent.stop('stdout closed'));
    const lines = new LineSplitter();
    process.stdin.setEncoding('utf8');
    process.stdin.on('data', (chunk: string) => {
      for (const line of lines.push(chunk)) {
        const cmd = parseAgentCommand(line);
        if ('error' in cmd)
          process.stdout.write(`${JSON.stringify({ type: 'error', t: Date.now(), message: cmd.error })}\n`);
        else agent.command(cmd);
      }
    });
    process.stdin.on('end', () => agent.stop('stdin closed'));
    process.stdin.on('error', () => agent.stop('stdin closed'));
    // SIGINT, SIGTERM and SIGHUP (base-command.ts): the reason names the signal.
    this.signal.addEventListener('abort', () => agent.stop(errorMessage(this.signal.reason)), {
      once: true,
    });
    try {
      return await agent.run();
    } finally {
      process.stdin.destroy();
    }
  }
}
