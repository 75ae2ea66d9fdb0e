import { Args, Flags } from '@oclif/core';
import { EdgectlCommand } from '../../base-command.js';
import { type ImageLoadResult, loadImageOnServers } from '../../lib/docker/images.js';
import { UsageError } from '../../lib/errors.js';
import { getHost, type Host, serverHosts } from '../../lib/inventory/index.js';

const MB = 1e6;
/** At most one progress line per this many ms. */
const PROGRESS_EVERY_MS = 1000;

export default class ImageLoad extends EdgectlCommand<typeof ImageLoad> {
  static override summary = 'Put a Docker image (your own service) on every server that lacks it.';
  static override description =
    `IMAGE|FILE: a docker save or OCI archive file, or an image of this machine's Docker. The archive streams to every server's dockerd over SSH, all at once; a server that has the image is skipped. No registry is used.`;

  static override examples = [
    {
      description: "An image of this machine's Docker, on every server.",
      command: '<%= config.bin %> <%= command.id %> myorg/myservice:1.0',
    },
    {
      description:
        'An archive made where the image is (docker save -o myservice.tar myorg/myservice:1.0), on two servers.',
      command: '<%= config.bin %> <%= command.id %> myservice.tar --host edge1 --host edge2',
    },
  ];

  static override args = {
    image: Args.string({
      description: "An image of this machine's Docker (name:tag or ID), or an archive file.",
      required: true,
    }),
  };

  static override flags = {
    host: Flags.string({ summary: 'Load only on this server (repeatable).', multiple: true }),
  };

  async run(): Promise<ImageLoadResult> {
    const { args } = await this.parse(ImageLoad);
    const inv = await this.loadInventory();
    const hosts: Host[] = this.flags.host?.length
      ? this.flags.host.map((h) => getHost(inv, h))
      : serverHosts(inv);
    for (const h of hosts) {
      if (!h.isServer)
        throw new UsageError(`${h.name} is not a server (a cloud or edge host): it runs no services`);
    }
    const pool = this.sshPool();
    const sent = new Map<string, number>();
    let total = 0;
    let lastLine = 0;
    try {
      const result = await loadImageOnServers(inv, pool, args.image, {
        hosts,
        signal: this.signal,
        onSave: (ref, id) => this.note(`Saving ${ref} (${id.slice(7, 19)}) from this machine's Docker...`),
        onConvert: (file) =>
          this.note(`${file} is an OCI layout archive: writing a copy that every Docker version loads...`),
        onImage: (image) => {
          total = image.archiveBytes;
          const name = image.tags.join(', ') || image.id;
          this.note(
            `${name} (${image.id.slice(7, 19)}, ${(total / MB).toFixed(0)} MB) to ${hosts.map((h) => h.name).join(', ')}...`,
          );
        },
        onProgress: ({ host, bytes }) => {
          sent.set(host, bytes);
          const now = performance.now();
          if (now - lastLine < PROGRESS_EVERY_MS) return;
          lastLine = now;
          this.note(
            `  ${[...sent].map(([h, b]) => `${h} ${(b / MB).toFixed(0)}/${(total / MB).toFixed(0)} MB`).join(', ')}`,
          );
        },
        onHost: (h) =>
          this.note(
            `  ✓ ${h.host}: ${h.loaded ? `loaded (${(h.bytes / MB).toFixed(0)} MB in ${h.ms} ms)` : 'already there'}`,
          ),
      });
      if (!this.jsonEnabled()) {
        const loaded = result.hosts.filter((h) => h.loaded).length;
        this.say(
          `${result.tags.join(', ') || result.image} is on ${result.hosts.length} servers (sent to ${loaded}).`,
        );
      }
      return result;
    } finally {
      await pool.closeAll();
    }
  }
}
