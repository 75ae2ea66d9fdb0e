/**
 * What `edgectl provision` wants on each host, as units. A unit names the commands that read its part
 * of the live state, decides from their output whether that part is already as wanted, and gives the
 * commands that converge it or remove it. Pure: no host is touched here.
 */
import { createHash } from 'node:crypto';

export interface Cmd {
  argv: string[];
  stdin?: string;
}

export interface UnitVerdict {
  current: boolean;
  apply: Cmd[];
  reset: Cmd[];
  /** What the live state showed that a user should hear of, when the unit is changed (e.g. a dead helper). */
  notes?: string[];
}

export interface Unit {
  id: string;
  probes: string[][];
  /** Called with the stdout of each probe, in order (a failed probe gives ''). */
  decide(outputs: readonly string[]): UnitVerdict;
}

export const cmd = (argv: string[], stdin?: string): Cmd =>
  stdin === undefined ? { argv } : { argv, stdin };

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * sysctls with their values before edgectl changed them saved on the host, so that a reset puts them
 * back exactly as they were (and leaves alone those that already had the wanted value).
 */
export function sysctlUnit(id: string, stateFile: string, wanted: Record<string, string>): Unit {
  const keys = Object.keys(wanted);
  return {
    id,
    probes: [
      [
        'sh',
        '-c',
        'for k in "$@"; do printf "%s=%s\\n" "$k" "$(sysctl -n "$k" 2>/dev/null)"; done',
        'sysctl',
        ...keys,
      ],
      ['sh', '-c', 'cat "$1" 2>/dev/null || true', 'state', stateFile],
    ],
    decide([live = '', saved = '']) {
      const now = Object.fromEntries(
        live
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      ) as Record<string, string>;
      const originals = saved.trim() ? (JSON.parse(saved) as Record<string, string>) : undefined;
      const differing = keys.filter((k) => now[k] !== wanted[k]);
      const apply: Cmd[] = [];
      if (differing.length > 0) {
        // Save what was there before the first change, once.
        const record = originals ?? Object.fromEntries(differing.map((k) => [k, now[k] ?? '']));
        for (const k of differing) if (!(k in record)) record[k] = now[k] ?? '';
        apply.push(writeFileCmd(stateFile, `${JSON.stringify(record)}\n`));
        apply.push(cmd(['sysctl', '-q', '-w', ...differing.map((k) => `${k}=${wanted[k]}`)]));
      }
      const reset: Cmd[] = [];
      if (originals) {
        const restore = Object.entries(originals).filter(([, v]) => v !== '');
        if (restore.length > 0)
          reset.push(cmd(['sysctl', '-q', '-w', ...restore.map(([k, v]) => `${k}=${v}`)]));
        reset.push(cmd(['rm', '-f', stateFile]));
      }
      return { current: differing.length === 0, apply, reset };
    },
  };
}

/** Writes a file (parents created, mode 600) from stdin. */
export function writeFileCmd(path: string, content: string): Cmd {
  return cmd(['sh', '-c', 'umask 077; mkdir -p "$(dirname "$1")" && cat > "$1"', 'write', path], content);
}
