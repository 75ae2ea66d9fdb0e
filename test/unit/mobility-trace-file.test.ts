/**
 * Trace files (time,user,x,y) read with hosts.yml: every problem named with the CSV's file, line and
 * column; the example trace of examples/traces loads and replays as written.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InventoryError, loadInventory, type TraceTrajectory } from '../../src/lib/inventory/index.js';
import { MAX_TRACE_ROWS, parseTraceCsv } from '../../src/lib/inventory/trace.js';
import { positionAt } from '../../src/lib/mobility/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'edgectl-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function hostsYml(users: string): string {
  return `testbed: traces
hosts:
  - { name: cloud, role: cloud, address: 198.18.0.10, capacity: { cpus: 2, memMB: 2048 } }
  - { name: ap1, role: ap, address: 198.18.0.21 }
  - { name: mu, role: mu, address: 198.18.0.31 }
basestations:
  - { name: ap1, host: ap1, position: [0, 0], radioSubnet: 198.18.11.0/24 }
links:
  - { between: [ap1, cloud], bandwidth: 100mbit, latency: 5ms }
services:
  - { name: simple, app: simple, port: 9000 }
users:
${users}`;
}

const user = (name: string, trajectory: string) =>
  `  - { name: ${name}, host: mu, service: simple, trajectory: ${trajectory} }\n`;

async function issuesOf(file: string): Promise<string[]> {
  try {
    await loadInventory(file);
  } catch (err) {
    if (err instanceof InventoryError) return err.message.split('\n');
    throw err;
  }
  throw new Error(`${file} loaded`);
}

describe('parseTraceCsv', () => {
  it('reads interleaved users, padded fields, CRLF, a BOM and blank lines; keeps file order', () => {
    const text = '\uFEFFtime, user, x, y\r\n0,a,0,0\r\n0,b,5,5\r\n\r\n1.5, a ,3,4\r\n2,b,1e1,-2.5\r\n';
    const r = parseTraceCsv(text, 't.csv');
    expect(r.issues).toEqual([]);
    expect(r.users.get('a')).toEqual([
      { t: 0, x: 0, y: 0 },
      { t: 1.5, x: 3, y: 4 },
    ]);
    expect(r.users.get('b')).toEqual([
      { t: 0, x: 5, y: 5 },
      { t: 2, x: 10, y: -2.5 },
    ]);
    // Any column order.
    expect(parseTraceCsv('user,x,y,time\na,1,2,3\n', 't.csv').users.get('a')).toEqual([{ t: 3, x: 1, y: 2 }]);
  });

  it('names the line and column of each problem', () => {
    const text = [
      'time,user,x,y',
      '0,a,0,0',
      '5,a,abc,0', // line 3: x not a number
      '4,a,1,1', // line 4: fine (only rows read well count)
      '-1,b,0,0', // line 5: negative time
      '6,c,0', // line 6: three fields
      '7,,1,1', // line 7: no user
      '9,a,1,1', // line 8: fine
      '1,a,1,1', // line 9: back in time after line 8's 9
      '3,b,0x10,5', // line 10: hex is not a number here
    ].join('\n');
    const r = parseTraceCsv(text, 'walk.csv');
    expect(r.issues.map((i) => `${i.file}:${i.line}:${i.column}`)).toEqual([
      'walk.csv:3:5',
      'walk.csv:5:1',
      'walk.csv:6:1',
      'walk.csv:7:3',
      'walk.csv:9:1',
      'walk.csv:10:5',
    ]);
    expect(r.issues[0]?.message).toBe('x: expected x in metres, a number, got "abc"');
    expect(r.issues[1]?.message).toContain('time: expected a time in seconds, a number >= 0, got "-1"');
    expect(r.issues[2]?.message).toContain('expected 4 fields');
    expect(r.issues[3]?.message).toContain('user: expected a user name');
    expect(r.issues[4]?.message).toBe(
      'time: expected a time >= 9 (line 8: the rows of user "a" go forward in time), got 1',
    );
    expect(r.users.get('a')?.map((p) => p.t)).toEqual([0, 4, 9]);
  });

  it('refuses a bad header, an empty file, a header without rows, too many rows', () => {
    expect(parseTraceCsv('t,user,x,y\n0,a,0,0\n', 'f.csv').issues[0]).toMatchObject({
      line: 1,
      message: 'expected the header time,user,x,y (columns in any order), got "t,user,x,y"',
    });
    expect(parseTraceCsv('\n\n', 'f.csv').issues[0]).toMatchObject({
      line: 1,
      message: expect.stringContaining('empty file'),
    });
    expect(parseTraceCsv('\ntime,user,x,y\n\n', 'f.csv').issues[0]).toMatchObject({
      line: 2,
      message: 'expected rows after the header, got none',
    });
    const many = ['time,user,x,y', ...Array.from({ length: MAX_TRACE_ROWS + 3 }, (_, i) => `${i},a,0,0`)];
    const r = parseTraceCsv(many.join('\n'), 'f.csv');
    expect(r.issues).toHaveLength(1);
    expect(r.issues[0]?.line).toBe(MAX_TRACE_ROWS + 2);
  });
});

describe('trace trajectories in hosts.yml', () => {
  it('reports a CSV problem with the CSV file and line, as the hosts file names it', async () => {
    writeFileSync(path.join(dir, 'bad.csv'), 'time,user,x,y\n0,mu1,0,0\n1,mu1,x,0\n');
    writeFileSync(path.join(dir, 'bad.yml'), hostsYml(user('mu1', '{ type: trace, file: bad.csv }')));
    const lines = await issuesOf(path.join(dir, 'bad.yml'));
    expect(lines).toEqual([`${path.join(dir, 'bad.csv')}:3:7: x: expected x in metres, a number, got "x"`]);
  });

  it('reports a user missing from the file with the file, and the user it was looked up for', async () => {
    writeFileSync(path.join(dir, 'two.csv'), 'time,user,x,y\n0,a,0,0\n0,b,1,1\n');
    writeFileSync(
      path.join(dir, 'missing.yml'),
      hostsYml(
        user('mu1', '{ type: trace, file: two.csv, user: a }') +
          user('mu2', '{ type: trace, file: two.csv }'),
      ),
    );
    const lines = await issuesOf(path.join(dir, 'missing.yml'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /two\.csv:1:1: expected rows of user "mu2" \(users\[1\]\.trajectory of .*missing\.yml\), got none \(users in the file: a, b\)$/,
    );
  });

  it('loads the example trace: three walkers, replayed as written', async () => {
    const csv = path.resolve('examples/traces/street.csv');
    writeFileSync(
      path.join(dir, 'example.yml'),
      hostsYml(
        user('alice', `{ type: trace, file: ${csv} }`) +
          user('bob', `{ type: trace, file: ${csv}, loop: true }`) +
          user('mu3', `{ type: trace, file: ${csv}, user: carol }`),
      ),
    );
    const inv = await loadInventory(path.join(dir, 'example.yml'));
    const [alice, bob, carol] = inv.users.map((u) => u.trajectory as TraceTrajectory);
    expect(alice?.type).toBe('trace');
    expect(alice?.file).toBe(csv);
    expect(carol?.user).toBe('carol');
    expect(bob?.loop).toBe(true);
    // alice: 1 m/s east, standing under ap2 (x = 60) from 60 s to 80 s.
    expect(positionAt(alice as TraceTrajectory, 25)).toEqual([25, 0]);
    expect(positionAt(alice as TraceTrajectory, 70)).toEqual([60, 0]);
    expect(positionAt(alice as TraceTrajectory, 85)).toEqual([65, 0]);
    expect(positionAt(alice as TraceTrajectory, 500)).toEqual([120, 0]);
    // bob starts at 5 s, standing at his first row before; loops with a period of 85 s.
    expect(positionAt(bob as TraceTrajectory, 0)).toEqual([120, 0]);
    expect(positionAt(bob as TraceTrajectory, 40)).toEqual([67.5, 5]);
    expect(positionAt(bob as TraceTrajectory, 85 + 40)).toEqual([67.5, 5]);
    expect(positionAt(carol as TraceTrajectory, 35)).toEqual([100, -2]);
    expect(alice?.points.length).toBeGreaterThan(10);
  });
});
