import { Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { ensureAppImage, type ImageReport } from '../../lib/docker/images.js';
import { getHost, serverHosts } from '../../lib/inventory/index.js';

export default class ImageBuild extends EdgectlCommand<typeof ImageBuild> {
  static override summary = "Build the bundled services' image from local files and load it on every server.";
  static override description =
    `The image holds this machine's node runtime and the bundled apps (simple, compute, face, detect) with the model files they read; no registry is needed. Built once into .edgectl/images beside the hosts file, and loaded on every server that lacks it.`;

  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --host edge1',
  ];

  static override flags = {
    host: Flags.string({ summary: 'Load only on this server (repeatable).', multiple: true }),
  };

  async run(): Promise<{ images: ImageReport[] }> {
    const inv = await this.loadInventory();
    const hosts = this.flags.host?.length ? this.flags.host.map((h) => getHost(inv, h)) : serverHosts(inv);
    const pool = this.sshPool();
    try {
      this.note(`Building the service image and loading it on ${hosts.map((h) => h.name).join(', ')}...`);
      const report = await ensureAppImage(inv, pool, {
        hosts,
        onHost: (h) => this.note(`  ✓ ${h.host}: ${h.loaded ? `loaded in ${h.ms} ms` : 'already there'}`),
      });
      if (!this.jsonEnabled()) {
        this.say(
          `${report.name} (${(report.bytes / 1e6).toFixed(0)} MB) is on ${report.hosts.length} servers.`,
        );
      }
      return { images: [report] };
    } finally {
      await pool.closeAll();
    }
  }
}
