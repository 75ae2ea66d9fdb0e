import { EdgectlError, ExitCode } from '../errors.js';

/** One problem in a hosts file, at a 1-based line and column. */
export interface InventoryIssue {
  /** The file as it was given (relative stays relative): the hosts file, or a trace CSV it names. */
  file: string;
  line: number;
  column: number;
  /** Where in the document: `links[2].latency`; '' for the document itself or a YAML syntax error. */
  path: string;
  /** What was expected and what was found. */
  message: string;
}

/** `hosts.yml:14:5: links[2].latency: expected a duration ..., got "fast"` */
export function formatIssue(issue: InventoryIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  return issue.path === '' ? `${where}: ${issue.message}` : `${where}: ${issue.path}: ${issue.message}`;
}

/** hosts.yml is not valid YAML, does not match the schema, or refers to things that do not exist. */
export class InventoryError extends EdgectlError {
  readonly issues: InventoryIssue[];
  readonly file: string;

  constructor(file: string, issues: InventoryIssue[]) {
    super('INVENTORY_INVALID', ExitCode.inventory, issues.map(formatIssue).join('\n'), {
      hint: `fix ${issues.length === 1 ? 'this line' : `these ${issues.length} lines`} of ${file}; edgectl init --out example.yml writes the lab inventory, every key commented, to compare with`,
      details: { file, issues },
    });
    this.name = 'InventoryError';
    this.file = file;
    this.issues = issues;
  }
}

/** The hosts file does not exist (or cannot be read). */
export class InventoryNotFoundError extends EdgectlError {
  readonly file: string;

  constructor(file: string, resolved: string, options: { cause?: unknown; reason?: string } = {}) {
    const shown = file === resolved ? file : `${file} (${resolved})`;
    super(
      'INVENTORY_NOT_FOUND',
      ExitCode.inventory,
      `hosts file ${options.reason ?? 'not found'}: ${shown}`,
      {
        hint: 'pass the inventory with --hosts/-f FILE or set EDGECTL_HOSTS (default: ./hosts.yml); edgectl init writes one to start from (--rack for real machines)',
        cause: options.cause,
        details: { file, resolved },
      },
    );
    this.name = 'InventoryNotFoundError';
    this.file = file;
  }
}

export type InventoryKind = 'host' | 'basestation' | 'user' | 'service';

/** A name asked for (e.g. `--host edge9`) that the inventory does not define. */
export class InventoryLookupError extends EdgectlError {
  readonly kind: InventoryKind;
  readonly wanted: string;
  readonly known: string[];

  constructor(kind: InventoryKind, wanted: string, known: string[], file: string) {
    const list = known.length === 0 ? `${file} defines no ${kind}s` : `${file} has ${known.join(', ')}`;
    super(
      `UNKNOWN_${kind.toUpperCase()}`,
      ExitCode.usage,
      `unknown ${kind} ${JSON.stringify(wanted)}: ${list}`,
      {
        hint: known.length === 0 ? `add a ${kind} to ${file}` : `use one of the ${kind} names of ${file}`,
        details: { kind, wanted, known },
      },
    );
    this.name = 'InventoryLookupError';
    this.kind = kind;
    this.wanted = wanted;
    this.known = known;
  }
}
