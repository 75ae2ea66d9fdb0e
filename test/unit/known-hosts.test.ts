import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  keyTypeOfBlob,
  knownHostsLine,
  knownHostsName,
  parseKnownHosts,
  patternsMatch,
  verifyHostKey,
} from '../../src/lib/remote/known-hosts.js';

function blob(type: string, body = randomBytes(32)): Buffer {
  const t = Buffer.from(type);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(t.length);
  const blen = Buffer.alloc(4);
  blen.writeUInt32BE(body.length);
  return Buffer.concat([len, t, blen, body]);
}

describe('known_hosts', () => {
  const ed = blob('ssh-ed25519');
  const otherEd = blob('ssh-ed25519');
  const rsa = blob('ssh-rsa');

  it('names hosts as OpenSSH does', () => {
    expect(knownHostsName('198.18.0.11', 22)).toBe('198.18.0.11');
    expect(knownHostsName('198.18.0.11', 2222)).toBe('[198.18.0.11]:2222');
  });

  it('reads the key type from a blob', () => {
    expect(keyTypeOfBlob(ed)).toBe('ssh-ed25519');
  });

  it('matches plain, wildcard, negated and hashed patterns', () => {
    expect(patternsMatch('a,198.18.0.11', '198.18.0.11')).toBe(true);
    expect(patternsMatch('198.18.0.*', '198.18.0.11')).toBe(true);
    expect(patternsMatch('198.18.0.*,!198.18.0.11', '198.18.0.11')).toBe(false);
    const salt = randomBytes(20);
    const hash = createHmac('sha1', salt).update('[198.18.0.11]:2222').digest('base64');
    expect(patternsMatch(`|1|${salt.toString('base64')}|${hash}`, '[198.18.0.11]:2222')).toBe(true);
    expect(patternsMatch(`|1|${salt.toString('base64')}|${hash}`, '198.18.0.11')).toBe(false);
  });

  it('tells known, unknown, mismatched and revoked keys apart', () => {
    const entries = parseKnownHosts(
      `# comment\n\n${knownHostsLine('198.18.0.11', ed)}@revoked * ssh-ed25519 ${blob('ssh-ed25519', Buffer.alloc(32, 7)).toString('base64')}\n`,
    );
    expect(entries).toHaveLength(2);
    expect(verifyHostKey(entries, '198.18.0.11', ed)).toBe('known');
    expect(verifyHostKey(entries, '198.18.0.11', otherEd)).toBe('mismatch');
    // A key of another type is merely unknown, as in OpenSSH.
    expect(verifyHostKey(entries, '198.18.0.11', rsa)).toBe('unknown');
    expect(verifyHostKey(entries, '198.18.0.12', ed)).toBe('unknown');
    expect(verifyHostKey(entries, '198.18.0.12', blob('ssh-ed25519', Buffer.alloc(32, 7)))).toBe('revoked');
  });
});
