import { describe, expect, it } from 'vitest';
import { errorEnvelope, successEnvelope, toEdgectlError } from '../../src/lib/envelope.js';
import { EdgectlError, ExitCode } from '../../src/lib/errors.js';
import { HostUnreachableError } from '../../src/lib/remote/errors.js';
import { renderTable } from '../../src/lib/util/table.js';

describe('JSON envelope', () => {
  it('wraps results with status and warnings', () => {
    expect(successEnvelope({ a: 1 }, ['w'])).toEqual({ status: 0, result: { a: 1 }, warnings: ['w'] });
    expect(successEnvelope({ a: 1 }, [], 6).status).toBe(6);
  });

  it('turns typed errors into status, code, message and hint', () => {
    const err = new HostUnreachableError('edge1', 'refused', 'connection refused', 'is sshd running?');
    expect(errorEnvelope(err, [])).toEqual({
      status: ExitCode.unreachable,
      error: { code: 'SSH_REFUSED', message: 'connection refused', hint: 'is sshd running?' },
      warnings: [],
    });
  });

  it('maps oclif usage errors to exit 2 and anything else to an internal error', () => {
    expect(
      toEdgectlError(Object.assign(new Error('Nonexistent flag: --x'), { oclif: { exit: 2 } })).exitCode,
    ).toBe(ExitCode.usage);
    const bug = toEdgectlError(new TypeError('x is undefined'));
    expect(bug).toBeInstanceOf(EdgectlError);
    expect(bug.code).toBe('INTERNAL');
    expect(bug.exitCode).toBe(1);
  });
});

describe('renderTable', () => {
  it('aligns columns, ignoring colour codes', () => {
    expect(
      renderTable([
        ['A', 'BB'],
        ['\u001b[32mccc\u001b[39m', 'd'],
      ]),
    ).toBe('A    BB\n\u001b[32mccc\u001b[39m  d');
  });
});
