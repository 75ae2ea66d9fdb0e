import { Args, Flags } from '@oclif/core';
import { EdgectlCommand } from '../base-command.js';
import { type LogStream, type LogsResult, NoServiceError, serviceLogs } from '../lib/docker/logs.js';
import { getUser } from '../lib/inventory/index.js';
import { readState } from '../lib/state/index.js';

interface LogsJson extends LogsResult {
  /** The output in order, as text, each piece tagged with its stream. */
  output: { stream: LogStream; text: string }[];
}

export default class Logs extends EdgectlCommand<typeof Logs> {
  static override summary = "Show the logs of a user's service container, from the server it runs on now.";

  static override description =
    `The container's stdout goes to stdout and its stderr to stderr. --follow keeps printing until the container stops or Ctrl+C, which ends it with exit 0.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %> mu1',
    '<%= config.bin %> <%= command.id %> mu1 --follow --tail 20',
  ];

  static override args = {
    user: Args.string({ description: 'The user (hosts.yml users[].name).', required: true }),
  };

  static override flags = {
    follow: Flags.boolean({
      summary: 'Keep printing new output until the container stops or Ctrl+C.',
      exclusive: ['json'],
    }),
    tail: Flags.integer({ summary: 'Only the last N lines.', min: 0 }),
  };

  async run(): Promise<LogsResult | LogsJson> {
    const { args } = await this.parse(Logs);
    const inv = await this.loadInventory();
    getUser(inv, args.user);
    // Read-only, and never created: logs of a testbed nothing was deployed to are an answer, not a new file.
    const state = readState(this.stateFile);
    if (!state) throw new NoServiceError(args.user);
    const pool = this.sshPool();
    const json = this.jsonEnabled();
    this.signalEndsNormally = this.flags.follow;
    const output: LogsJson['output'] = [];
    try {
      const r = await serviceLogs(inv, pool, state, {
        user: args.user,
        follow: this.flags.follow,
        ...(this.flags.tail === undefined ? {} : { tail: this.flags.tail }),
        signal: this.signal,
        onChunk: ({ stream, data }) => {
          if (json) {
            const text = data.toString('utf8');
            const last = output.at(-1);
            if (last?.stream === stream) last.text += text;
            else output.push({ stream, text });
          } else if (stream === 'stderr') process.stderr.write(data);
          else process.stdout.write(data);
        },
      });
      if (r.interrupted) this.verbose(`stopped following ${r.container} on ${r.host}`);
      return json ? { ...r, output } : r;
    } finally {
      state.close();
      await pool.closeAll();
    }
  }
}
