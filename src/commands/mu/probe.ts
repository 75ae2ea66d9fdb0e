import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
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
  static override summary =
    'Measure the gap a migration leaves in a service, as its user sees it (runs on the mu host).';
  static override description =
    `Asks the service at --from every few milliseconds (--probe: an edgectl ping task, which does
not count; a TCP connection accepted; or a 2xx answer to GET PATH); once it answers, prints "ready" on stdout. When it stops answering, pings --to and --from in turn until one
answers, then prints the result as one JSON line: the last answer before the gap, the first after it, the
downtime between them, and who answered.`;

  static override flags = {
    from: Flags.string({ summary: 'Where the service runs now (ADDRESS:PORT).', required: true }),
    to: Flags.string({ summary: 'Where it will run (ADDRESS:PORT).', required: true }),
    'local-address': Flags.string({ summary: "Send from this address (the user's own)." }),
    probe: Flags.string({
      summary: 'What counts as an answer: edgectl, tcp or http:/PATH.',
      default: 'edgectl',
    }),
    'interval-ms': Flags.integer({ summary: 'Time between pings.', default: 10, min: 1 }),
    'attempt-timeout-ms': Flags.integer({
      summary: 'A ping unanswered for this long is a failure.',
      default: 250,
      min: 10,
    }),
    'timeout-ms': Flags.integer({
      summary: 'Give up after this long without an answer.',
      default: 300_000,
      min: 100,
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
      intervalMs: f['interval-ms'],
      attemptTimeoutMs: f['attempt-timeout-ms'],
      timeoutMs: f['timeout-ms'],
      onReady: () => (this.jsonEnabled() ? process.stderr : process.stdout).write('ready\n'),
    });
    if (!this.jsonEnabled()) this.say(JSON.stringify(result));
    return result;
  }
}
