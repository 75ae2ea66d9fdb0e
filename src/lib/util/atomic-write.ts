/**
 * Writing a local file so that a reader (or a crash) never sees it half written: the data goes to a temporary
 * file in the same directory (a rename is atomic only within one file system), is flushed to the disk, and
 * then replaces the file by rename(2). A process killed at any instant leaves either the old file or the new
 * one, and at worst a `.NAME.*.tmp` file beside it.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export type AtomicData =
  | string
  | Uint8Array
  | Iterable<string | Uint8Array>
  | AsyncIterable<string | Uint8Array>;

/**
 * Replaces `path` with `data` atomically. The file gets `mode` (default 0644, less the umask) and this process's
 * owner: an old file's mode and owner are not kept.
 */
export async function writeFileAtomic(
  path: string,
  data: AtomicData,
  options: { mode?: number } = {},
): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  // 'wx': a name nobody else holds, never followed through a symlink someone planted.
  const file = await open(tmp, 'wx', options.mode ?? 0o644);
  try {
    try {
      await writeFile(file, data);
      // Without it, a power loss after the rename can leave the new name on an empty file (ext4, xfs).
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
