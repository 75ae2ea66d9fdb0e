import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { durationFlag } from '../../lib/cli/flags.js';
import { UsageError } from '../../lib/errors.js';
import { HTTP_PROBE_RE, parseProbe } from '../../lib/inventory/index.js';
import { type ActiveProbe, type ProbeResult, probeGap } from '../../lib/mu/probe.js';

function target(text: string, local?: string) {
  const i = text.lastIndexOf(':');
  return {
    address: text.slice(0, i),
    port: Number(text.slice(i + 1)),
    ...(local ? { localAddress: local } : {}),
  };
}

export default class MuProbe extends EdgectlCommand<typeof MuProbe> {
  static override hidden = true;
  static override baseFlags = EdgectlCommand.globalFlags;
  static override summary =
    'Measure the gap a migration leaves in a service, as its user sees it (runs on the mu host).';
  static override description =
    `Plumbing: what migrate runs on the user's machine to measure the downtime. Prints "ready" once the service answers, then one JSON line with the gap.`;

  static override flags = {
    from: Flags.string({ summary: 'Where the service runs now (ADDRESS:PORT).', required: true }),
    to: Flags.string({ summary: 'Where it will run (ADDRESS:PORT).', required: true }),
    'local-address': Flags.string({ summary: "Send from this address (the user's own)." }),
    probe: Flags.string({
      summary: 'What counts as an answer: edgectl, tcp or http:/PATH.',
      default: 'edgectl',
    }),
    interval: durationFlag({
      summary: 'Time between pings.',
      unit: 'ms',
      defaultMs: 10,
      minMs: 1,
      aliases: ['interval-ms'],
    }),
    'attempt-timeout': durationFlag({
      summary: 'A ping unanswered for this long is a failure.',
      unit: 'ms',
      defaultMs: 250,
      minMs: 10,
      aliases: ['attempt-timeout-ms'],
    }),
    timeout: durationFlag({
      summary: 'Give up after this long without an answer.',
      unit: 'ms',
      defaultMs: 300_000,
      minMs: 100,
      aliases: ['timeout-ms'],
    }),
  };

  async run(): Promise<ProbeResult> {
    const f = this.flags;
    const local = f['local-address'];
    if (!(f.probe === 'edgectl' || f.probe === 'tcp' || HTTP_PROBE_RE.test(f.probe)))
      throw new UsageError(`--probe must be edgectl, tcp or http:/PATH, got ${JSON.stringify(f.probe)}`);
    const result = await probeGap({
      probe: parseProbe(f.probe) as ActiveProbe,
      from: target(f.from, local),
      to: target(f.to, local),
      intervalMs: f.interval,
      attemptTimeoutMs: f['attempt-timeout'],
      timeoutMs: f.timeout,
      onReady: () => (this.jsonEnabled() ? process.stderr : process.stdout).write('ready\n'),
    });
    if (!this.jsonEnabled()) this.say(JSON.stringify(result));
    return result;
  }
}
