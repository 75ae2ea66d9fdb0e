/**
 * Who owns a container: its name (no two testbed/user pairs share one), the labels that prove it ours,
 * and the removal that refuses what another testbed or state database owns (dockerd faked: only the
 * inspect and remove calls the rule makes).
 */
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import {
  containerName,
  LABEL,
  mayRemove,
  NotOwnedError,
  type Owner,
  ownerLabels,
  removeOwnedContainer,
} from '../../src/lib/docker/owner.js';
import { ExitCode } from '../../src/lib/errors.js';
import { NAME_RE } from '../../src/lib/inventory/schema.js';

const DB = '0123456789abcdef';
const OTHER_DB = 'fedcba9876543210';
const me: Owner = { testbed: 'paper', user: 'fig3-mu1', database: DB };

describe('container names', () => {
  it('a testbed that is a prefix of another does not give its users the other testbed’s names', () => {
    // The names that met with "-" between testbed and user.
    expect(containerName({ testbed: 'paper' }, 'fig3-mu1')).toBe('edgectl.paper.fig3-mu1');
    expect(containerName({ testbed: 'paper-fig3' }, 'mu1')).toBe('edgectl.paper-fig3.mu1');
    expect(containerName({ testbed: 'paper' }, 'fig3-mu1')).not.toBe(
      containerName({ testbed: 'paper-fig3' }, 'mu1'),
    );
  });

  it('the separator cannot occur in a name, so a container name gives back its testbed and user', () => {
    expect(NAME_RE.test('a.b')).toBe(false);
    const names = ['a', 'a-b', 'a-b-c', 'b', 'b-c', 'c', 'mu1', 'paper', 'paper-fig3', 'fig3-mu1'];
    const seen = new Map<string, string>();
    for (const testbed of names)
      for (const user of names) {
        const name = containerName({ testbed }, user);
        expect(name).toMatch(/^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/); // what Docker accepts
        const [, t, u] = /^edgectl\.([^.]+)\.([^.]+)$/.exec(name) ?? [];
        expect([t, u]).toEqual([testbed, user]);
        expect(seen.get(name), name).toBeUndefined();
        seen.set(name, `${testbed}/${user}`);
      }
  });
});

describe('what proves a container ours', () => {
  const labels = (o: Partial<Owner>) => ({
    ...(o.testbed ? { [LABEL.testbed]: o.testbed } : {}),
    ...(o.user ? { [LABEL.user]: o.user } : {}),
    ...(o.database ? { [LABEL.database]: o.database } : {}),
    [LABEL.service]: 'simple',
  });

  it('by name: all three labels ours', () => {
    expect(mayRemove(ownerLabels(me), me)).toBe(true);
    expect(mayRemove(labels({ ...me, database: OTHER_DB }), me)).toBe(false);
    expect(mayRemove(labels({ ...me, testbed: 'paper-fig3', user: 'mu1' }), me)).toBe(false);
    expect(mayRemove(labels({ ...me, user: 'mu2' }), me)).toBe(false);
    // Made before the database label existed, or by someone else: not provably ours.
    expect(mayRemove(labels({ testbed: me.testbed, user: me.user }), me)).toBe(false);
    expect(mayRemove({}, me)).toBe(false);
    expect(mayRemove(null, me)).toBe(false);
  });

  it('by our placement record: ours unless its label names another database', () => {
    expect(mayRemove(labels({ testbed: me.testbed, user: me.user }), me, true)).toBe(true);
    expect(mayRemove(ownerLabels(me), me, true)).toBe(true);
    expect(mayRemove(labels({ ...me, database: OTHER_DB }), me, true)).toBe(false);
  });

  it('a refusal names the owner and what to do, as a usage error (exit 2)', () => {
    const otherDb = new NotOwnedError('edgectl.paper.fig3-mu1', 'edge1', { ...me, database: OTHER_DB }, me);
    expect(otherDb.exitCode).toBe(ExitCode.usage);
    expect(otherDb.code).toBe('NOT_OWNED');
    expect(otherDb.message).toContain(`state database ${OTHER_DB}`);
    expect(otherDb.message).toContain('on edge1');
    expect(otherDb.hint).toMatch(/another state database.*--state/);
    const otherTestbed = new NotOwnedError(
      'x',
      'edge1',
      { testbed: 'paper-fig3', user: 'mu1', database: DB },
      me,
    );
    expect(otherTestbed.hint).toMatch(/testbed paper-fig3's: use that testbed's hosts.yml/);
    const unlabelled = new NotOwnedError('x', 'edge1', {}, me);
    expect(unlabelled.hint).toMatch(/docker rm -f x/);
  });
});

interface FakeContainer {
  Id: string;
  Name: string;
  labels: Record<string, string>;
}

/** A dockerd with these containers: inspect by name or id, remove by name or id; the removals it saw. */
function fakeDocker(containers: FakeContainer[]): { docker: Docker; removed: string[] } {
  const removed: string[] = [];
  const find = (ref: string) => containers.find((c) => c.Id === ref || c.Name === `/${ref}`);
  const notFound = () => Object.assign(new Error('no such container'), { statusCode: 404 });
  const docker = {
    getContainer: (ref: string) => ({
      inspect: async () => {
        const c = find(ref);
        if (!c) throw notFound();
        return { Id: c.Id, Name: c.Name, Config: { Labels: c.labels }, State: { Running: true } };
      },
      remove: async () => {
        const c = find(ref);
        if (!c) throw notFound();
        containers.splice(containers.indexOf(c), 1);
        removed.push(ref);
      },
    }),
  } as unknown as Docker;
  return { docker, removed };
}

describe('removing only what is ours', () => {
  const name = containerName(me, me.user);

  it('removes our own leftover, by the id it inspected', async () => {
    const { docker, removed } = fakeDocker([{ Id: 'aaa', Name: `/${name}`, labels: ownerLabels(me) }]);
    expect(await removeOwnedContainer(docker, name, me, { host: 'edge1' })).toBe('removed');
    expect(removed).toEqual(['aaa']);
  });

  it('says absent when there is nothing', async () => {
    const { docker, removed } = fakeDocker([]);
    expect(await removeOwnedContainer(docker, name, me, { host: 'edge1' })).toBe('absent');
    expect(removed).toEqual([]);
  });

  it('refuses, removing nothing, a container of another state database or one without labels', async () => {
    for (const labels of [ownerLabels({ ...me, database: OTHER_DB }), {}]) {
      const { docker, removed } = fakeDocker([{ Id: 'bbb', Name: `/${name}`, labels }]);
      const err = await removeOwnedContainer(docker, name, me, { host: 'edge1' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotOwnedError);
      expect((err as NotOwnedError).container).toBe(name);
      expect(removed).toEqual([]);
    }
  });

  it('removes the container our placement recorded (by id) even without the database label', async () => {
    const legacy = { [LABEL.testbed]: me.testbed, [LABEL.user]: me.user };
    const { docker, removed } = fakeDocker([{ Id: 'ccc', Name: '/edgectl-paper-fig3-mu1', labels: legacy }]);
    expect(await removeOwnedContainer(docker, 'ccc', me, { host: 'edge1', recordedId: 'ccc' })).toBe(
      'removed',
    );
    expect(removed).toEqual(['ccc']);
  });

  it('the record proves only its own id: a recorded id does not cover another container of the name', async () => {
    const { docker, removed } = fakeDocker([
      { Id: 'ddd', Name: `/${name}`, labels: ownerLabels({ ...me, database: OTHER_DB }) },
    ]);
    await expect(
      removeOwnedContainer(docker, name, me, { host: 'edge1', recordedId: 'ccc' }),
    ).rejects.toThrow(NotOwnedError);
    expect(removed).toEqual([]);
  });
});
