/**
 * The downlink half of a user's radio rate cap: provision gave each user an HTB class on every AP's radio
 * interface (what reaches the user); its agent on the user's machine sets the uplink half itself, but it
 * cannot reach the APs, so the controller that runs the agent sets this half from the agent's reports:
 * the class on the user's current AP at the rate of its RSSI, every other AP's class at provision's rate.
 * One long-lived shell per AP (a new SSH session costs its login shell there: 0.1-2 s), changes coalesced
 * (only the newest wanted rate is applied), everything put back when the session ends.
 */
import { errorMessage } from '../errors.js';
import { getBasestation, getHost, type Inventory } from '../inventory/index.js';
import { parseAddrs, readAddrsArgv } from '../netem/ip.js';
import { flowRateArgv } from '../netem/tc.js';
import { DEFAULT_RADIO_RATE_BPS } from '../provision/plan.js';
import { runChecked, ShellExecutor, type SshPool } from '../remote/index.js';

export class DownlinkCaps {
  private readonly shells = new Map<string, ShellExecutor>();
  private readonly devs = new Map<string, string>();
  /** bs -> the rate its class has now, where this changed it. */
  private readonly applied = new Map<string, number>();
  private wanted: { bs: string; rateBps: number } | undefined;
  private running: Promise<void> | undefined;
  private readonly classIndex: number;

  constructor(
    private readonly inv: Inventory,
    private readonly pool: SshPool,
    user: string,
    private readonly onError: (message: string) => void,
  ) {
    const muHosts = new Set(inv.hosts.filter((h) => h.role === 'mu').map((h) => h.name));
    // The order of provision's flows on an AP's radio interface: every user of a mu host.
    this.classIndex = inv.users.filter((u) => muHosts.has(u.host)).findIndex((u) => u.name === user);
  }

  /** The user is on `bs` with this rate now (applied in the background; a newer call supersedes it). */
  set(bs: string | null, rateBps: number): void {
    if (bs === null || this.classIndex < 0) return;
    this.wanted = { bs, rateBps };
    this.running ??= this.flush().finally(() => {
      this.running = undefined;
    });
  }

  /** Waits for what is under way, then puts every class it changed back at provision's rate. */
  async restore(): Promise<string[]> {
    this.wanted = undefined;
    await this.running;
    const done: string[] = [];
    for (const [bs, rate] of this.applied) {
      if (rate === DEFAULT_RADIO_RATE_BPS) continue;
      if (await this.apply(bs, DEFAULT_RADIO_RATE_BPS)) done.push(`downlink rate cap on ${bs}`);
    }
    await Promise.all([...this.shells.values()].map((s) => s.close().catch(() => {})));
    this.shells.clear();
    return done;
  }

  private async flush(): Promise<void> {
    while (this.wanted) {
      const { bs, rateBps } = this.wanted;
      this.wanted = undefined;
      for (const [other, rate] of this.applied)
        if (other !== bs && rate !== DEFAULT_RADIO_RATE_BPS) await this.apply(other, DEFAULT_RADIO_RATE_BPS);
      if (this.applied.get(bs) !== rateBps) await this.apply(bs, rateBps);
    }
  }

  private async apply(bsName: string, rateBps: number): Promise<boolean> {
    const bs = getBasestation(this.inv, bsName);
    try {
      let shell = this.shells.get(bs.host);
      if (!shell) {
        shell = new ShellExecutor(this.pool, getHost(this.inv, bs.host));
        this.shells.set(bs.host, shell);
      }
      let dev = this.devs.get(bsName);
      if (!dev) {
        const addrs = parseAddrs((await runChecked(shell, readAddrsArgv())).stdout);
        dev = addrs.find((a) => a.address === bs.radio.apAddress)?.dev;
        if (!dev) throw new Error(`no interface holds ${bs.radio.apAddress} on ${bs.host}`);
        this.devs.set(bsName, dev);
      }
      await runChecked(shell, flowRateArgv(dev, this.classIndex, rateBps), {
        what: `setting the downlink rate cap on ${bs.host}`,
      });
      this.applied.set(bsName, rateBps);
      return true;
    } catch (err) {
      this.onError(`downlink rate cap on ${bsName}: ${errorMessage(err)}`);
      return false;
    }
  }
}
