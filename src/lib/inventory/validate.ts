/**
 * `edgectl validate`: the loader run for its verdict alone (offline: no SSH, no state database). Every
 * problem the loader finds comes back as data instead of an exception, so that the command can list them
 * all, and a script can read them from --json.
 */
import { InventoryError, type InventoryIssue } from './errors.js';
import { loadInventory, type ParseInventoryOptions } from './load.js';

export interface ValidateResult {
  /** The hosts file as it was given. */
  file: string;
  valid: boolean;
  /** Every problem, in the order of the file: `hosts.yml:14:5: links[2].latency: ...`. Empty when valid. */
  issues: InventoryIssue[];
  /** What loading it did not follow (an ssh config's Include or Match exec); the file is still valid. */
  warnings: string[];
  /** What a valid file describes; absent when it is invalid. */
  summary?: {
    testbed: string;
    hosts: number;
    basestations: number;
    links: number;
    users: number;
    services: number;
  };
}

/**
 * Validates a hosts file. A missing or unreadable file is no verdict on its content: that throws
 * InventoryNotFoundError (exit 3) as every other command does.
 */
export async function validateInventory(
  file: string,
  options: ParseInventoryOptions = {},
): Promise<ValidateResult> {
  try {
    const inv = await loadInventory(file, options);
    return {
      file,
      valid: true,
      issues: [],
      warnings: inv.warnings ?? [],
      summary: {
        testbed: inv.testbed,
        hosts: inv.hosts.length,
        basestations: inv.basestations.length,
        links: inv.links.length,
        users: inv.users.length,
        services: inv.services.length,
      },
    };
  } catch (err) {
    if (err instanceof InventoryError) return { file, valid: false, issues: err.issues, warnings: [] };
    throw err;
  }
}
