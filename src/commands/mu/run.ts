import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { errorMessage, UsageError } from '../../lib/errors.js';
import { MuAgent } from '../../lib/mu/agent.js';
import type { ByeReport } from '../../lib/mu/agent-protocol.js';
import { LineSplitter, parseAgentCommand } from '../../lib/mu/agent-protocol.js';
import { type AgentSpec, agentSpec, parseAgentSpec } from '../../lib/mu/agent-spec.js';

export default class MuRun extends EdgectlCommand<typeof MuRun> {
  static override summary =
    "The virtual mobile user: walks, hands over, offloads and reports (runs on the user's machine).";
  static override description =
    `Speaks JSON lines. On stdout, one object per line: hello, position (RSSI to every base
station, current base station, rate cap), task (send time, E2E, processing, counter, server, the NAT address it
arrived from), handover (the gap the user saw; with the command's id, its planned instant and how late the
link went down; dropped: true when it could not take place), gap, clock (the offset to the controller's
clock), error, bye. On stdin it takes commands, one JSON object per line:
{"cmd":"handover","to":"ap2"[,"at":EPOCH_MS][,"id":N]} (at: when the link goes down, controller clock),
{"cmd":"endpoint","endpoint":{"address":A,"port":P}|null}, {"cmd":"auto","on":false}, {"cmd":"stop"}, and the
controller's {"cmd":"clock",...} answers. It ends on "stop", at the end of stdin (its SSH session is gone),
on SIGINT/SIGTERM/SIGHUP or after --duration, and then puts back its rate caps and any blackout rule.
\`edgectl monitor --duration\` starts it over SSH with --spec; given no --spec it reads hosts.yml and the state
database itself. Under --json the last line is the envelope, on one line like every other.`;

  static override flags = {
    user: Flags.string({ summary: 'The user to play.', required: true }),
    spec: Flags.string({
      summary: 'The agent spec as JSON (what the controller passes; default: from hosts.yml).',
    }),
    duration: Flags.integer({ summary: 'Stop after this many seconds (0: until stopped).', min: 0 }),
    handover: Flags.string({
      summary: 'auto: hand over by the RSSI hysteresis rule; controller: only when told.',
      options: ['auto', 'controller'],
    }),
    'blackout-ms': Flags.integer({ summary: 'The disconnection of a handover.', min: 0 }),
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
    if (f.duration !== undefined) spec.durationS = f.duration;
    if (f.handover) spec.handover = f.handover as AgentSpec['handover'];
    if (f['blackout-ms'] !== undefined) spec.blackoutMs = f['blackout-ms'];

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
