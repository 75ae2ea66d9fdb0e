/**
 * A typo's suggestion where @oclif/plugin-not-found gives none: that plugin asks "Did you mean ...?" only
 * on a terminal, and says nothing of the closest command to a script or a pipe. It still prints the
 * warning and exits (127, as a shell does for an unknown command).
 */
import { type Hook, toConfiguredId } from '@oclif/core';
import { distance } from 'fastest-levenshtein';

/** The visible command closest to `id` (oclif's colon form), as the user would type it. */
export function suggestCommand(id: string, ids: readonly string[]): string | undefined {
  let best: { id: string; d: number } | undefined;
  for (const c of ids) {
    const d = distance(id, c);
    if (!best || d < best.d) best = { id: c, d };
  }
  return best?.id;
}

const hook: Hook<'command_not_found'> = async (opts) => {
  if (process.stdin.isTTY) return;
  const ids = opts.config.commands.filter((c) => !c.hidden).flatMap((c) => [c.id, ...c.aliases]);
  const best = suggestCommand(opts.id, ids);
  if (best) process.stderr.write(`Did you mean ${toConfiguredId(best, opts.config)}?\n`);
};

export default hook;
