/**
 * Whether to print colour. `--no-color` always wins; then, as Node itself does, FORCE_COLOR (read by chalk)
 * over NO_COLOR (any non-empty value, https://no-color.org); otherwise chalk's own guess from the terminal.
 */
import chalk from 'chalk';

export function colorDisabled(noColorFlag: boolean, env: NodeJS.ProcessEnv = process.env): boolean {
  if (noColorFlag) return true;
  if (env['FORCE_COLOR'] !== undefined) return false;
  return (env['NO_COLOR'] ?? '') !== '';
}

/** Sets chalk's level (and so listr2's colours, see util/progress.ts) for the whole process. */
export function applyColor(noColorFlag: boolean, env: NodeJS.ProcessEnv = process.env): void {
  if (colorDisabled(noColorFlag, env)) chalk.level = 0;
}
