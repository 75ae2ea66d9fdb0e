/**
 * The user's machine as an agent's executor sees it, without touching the real one: `ip -j addr show`
 * lists the radio addresses it is given, `iptables -S` shows the user's MARK rule pointing at the table
 * of its current base station, a path switch (`-R`) moves that rule, and every blackout going on and off
 * is timed (the instants the tests check). A rate-cap change (`tc`) can be made slow, as on a busy machine.
 */
import type { Executor, RunResult } from '../../src/lib/remote/index.js';

const now = () => performance.timeOrigin + performance.now();

export interface FakeUserHost extends Executor {
  /** The routing table the user's MARK rule points at now. */
  table: number;
  /** When each blackout went on (link down) and off (link up), this machine's clock. */
  downs: number[];
  ups: number[];
  /** Every command, in order. */
  ran: string[];
  /** How long each `tc` call takes. */
  rateCapMs: number;
  /** `tc` calls under way now. */
  rateCapsRunning: number;
  /** Called as the link goes down (e.g. a service that freezes at that instant). */
  onDown?: () => void;
}

export function fakeUserHost(opts: {
  address: string;
  table: number;
  /** Radio interfaces of the user: name and an address in its base station's radio subnet. */
  radios?: { dev: string; address: string }[];
}): FakeUserHost {
  const ok = (argv: readonly string[], stdout = ''): RunResult => ({
    argv,
    code: 0,
    stdout,
    stderr: '',
    ms: 0,
    timedOut: false,
  });
  const host: FakeUserHost = {
    host: 'mu',
    table: opts.table,
    downs: [],
    ups: [],
    ran: [],
    rateCapMs: 0,
    rateCapsRunning: 0,
    async run(argv: readonly string[]) {
      const line = argv.join(' ');
      host.ran.push(line);
      if (argv[0] === 'ip') {
        const links = (opts.radios ?? []).map((r) => ({
          ifname: r.dev,
          addr_info: [{ family: 'inet', local: r.address, prefixlen: 24 }],
        }));
        return ok(argv, JSON.stringify(links));
      }
      if (argv[0] === 'tc') {
        host.rateCapsRunning++;
        await new Promise((r) => setTimeout(r, host.rateCapMs));
        host.rateCapsRunning--;
        return ok(argv);
      }
      if (argv.includes('-S')) {
        const mark = `0x${host.table.toString(16)}/0xffffffff`;
        return ok(
          argv,
          [
            '-N EDGECTL-MU',
            `-A EDGECTL-MU -s ${opts.address}/32 -m comment --comment "edgectl:user-mu1:0123abcd" -j MARK --set-xmark ${mark}`,
          ].join('\n'),
        );
      }
      if (line.includes('edgectl-blackout') && / -I /.test(line)) {
        host.downs.push(now());
        host.onDown?.();
      }
      const switched = / -R EDGECTL-MU .*--set-x?mark (0x[0-9a-f]+|\d+)/.exec(line);
      if (switched?.[1]) host.table = Number(switched[1]);
      if (line.includes('edgectl-blackout') && / -D /.test(line)) host.ups.push(now());
      return ok(argv);
    },
  };
  return host;
}
