import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../src/errors.ts';
import { DEFAULT_VARIANTS, isValidKey } from '../../common/contract.ts';
import { parseRequestsArgs, pathsForKeys, renderRequestList, requests, selectFromLog, selectLogLine, unique } from '../src/requests.ts';

const line = (o: Record<string, unknown>) => JSON.stringify({ time: '2026-01-01T00:00:00Z', status: 200, ...o });

describe('selectLogLine', () => {
  it.each([
    ['a GET of the hot path', line({ method: 'GET', uri: '/image/files/a.jpg?w=300' }), { path: '/image/files/a.jpg?w=300' }],
    ['a HEAD of the hot path', line({ method: 'HEAD', uri: '/image/files/b/c.png' }), { path: '/image/files/b/c.png' }],
    ['a POST (changes data)', line({ method: 'POST', uri: '/image/files' }), { skip: 'otherMethod' }],
    ['a DELETE (changes data)', line({ method: 'DELETE', uri: '/image/files/a.jpg' }), { skip: 'otherMethod' }],
    ['the health check', line({ method: 'GET', uri: '/image/health' }), { skip: 'otherPath' }],
    ['the bare prefix', line({ method: 'GET', uri: '/image/files/' }), { skip: 'otherPath' }],
    ['the prefix with a query only', line({ method: 'GET', uri: '/image/files/?w=1' }), { skip: 'otherPath' }],
    ['a blank line', '   ', { skip: 'blank' }],
    ['not JSON', 'GET /image/files/a.jpg 200', { skip: 'unparseable' }],
    ['JSON without uri', JSON.stringify({ method: 'GET' }), { skip: 'unparseable' }],
    ['a JSON array', '["GET"]', { skip: 'unparseable' }],
    ['JSON null', 'null', { skip: 'unparseable' }],
  ])('%s', (_name, input, expected) => {
    expect(selectLogLine(input)).toEqual(expected);
  });

  it('with okOnly keeps 200 and 304 and leaves out errors', () => {
    expect(selectLogLine(line({ method: 'GET', uri: '/image/files/a.jpg', status: '304' }), { okOnly: true })).toEqual({ path: '/image/files/a.jpg' });
    expect(selectLogLine(line({ method: 'GET', uri: '/image/files/a.jpg', status: 404 }), { okOnly: true })).toEqual({ skip: 'notOk' });
    expect(selectLogLine(line({ method: 'GET', uri: '/image/files/a.jpg', status: 404 }))).toEqual({ path: '/image/files/a.jpg' });
  });
});

describe('selectFromLog', () => {
  it('keeps order and repeats, and counts what it left out', () => {
    const sel = selectFromLog([
      line({ method: 'GET', uri: '/image/files/a.jpg?w=1' }),
      'garbage',
      line({ method: 'POST', uri: '/image/files' }),
      line({ method: 'GET', uri: '/image/files/a.jpg?w=1' }),
      '',
      line({ method: 'GET', uri: '/other' }),
      '{"broken":',
    ]);
    expect(sel.paths).toEqual(['/image/files/a.jpg?w=1', '/image/files/a.jpg?w=1']);
    expect(sel).toMatchObject({ unparseable: 2, firstUnparseableLine: 2, otherMethod: 1, otherPath: 1, notOk: 0 });
  });
});

describe('isValidKey', () => {
  it.each([
    ['photo.jpg', true],
    ['a/b-c_d.e.webp', true],
    ['a b.jpg', false],
    ['a//b.jpg', false],
    ['../x.jpg', false],
    ['./x.jpg', false],
    ['é.jpg', false],
    ['x'.repeat(512), true],
    ['x'.repeat(513), false],
    ['', false],
  ])('%s -> %s', (key, ok) => expect(isValidKey(key)).toBe(ok));
});

describe('pathsForKeys', () => {
  it('goes variant by variant so that consecutive requests hit different originals', () => {
    expect(pathsForKeys(['a.jpg', 'd/b.png'], ['w=1', 'w=2&format=webp'])).toEqual([
      '/image/files/a.jpg?w=1',
      '/image/files/d/b.png?w=1',
      '/image/files/a.jpg?w=2&format=webp',
      '/image/files/d/b.png?w=2&format=webp',
    ]);
  });
  it('an empty variant is the plain download', () => {
    expect(pathsForKeys(['a.jpg'], [''])).toEqual(['/image/files/a.jpg']);
  });
  it('the default mix is the benchmark mix: 4 boxes x jpeg, webp', () => {
    expect(DEFAULT_VARIANTS).toHaveLength(8);
    expect(DEFAULT_VARIANTS).toContain('w=200&h=200&fit=cover&format=webp');
  });
});

describe('parseRequestsArgs', () => {
  it('reads a log source with its options', () => {
    expect(parseRequestsArgs(['--from-log', 'x.log', '--ok-only', '--unique', '--limit', '10', '--out', 'r.json'])).toMatchObject({
      source: { kind: 'log', file: 'x.log' },
      okOnly: true,
      unique: true,
      limit: 10,
      out: 'r.json',
    });
  });
  it('reads an originals source with and without a directory', () => {
    expect(parseRequestsArgs(['--from-originals']).source).toEqual({ kind: 'originals', dir: undefined });
    expect(parseRequestsArgs(['--from-originals', 'var/x', '--variants', '?w=1;w=2', '--no-probe'])).toMatchObject({
      source: { kind: 'originals', dir: 'var/x' },
      variants: ['w=1', 'w=2'],
      probe: false,
    });
  });
  it.each([
    [[], /give a source/],
    [['--from-log'], /--from-log expects a value/],
    [['--from-log', 'a', '--from-originals'], /give one source/],
    [['--from-originals', '--limit', '0'], /--limit expects a positive integer, got '0'/],
    [['--from-originals', '--bogus'], /unknown option '--bogus'/],
    [['--from-log', 'a', '--variants', 'w=1'], /go with --from-originals/],
    [['--from-originals', '--ok-only'], /goes with --from-log/],
    [['--from-originals', '--variants', 'w=1 2'], /--variants expects/],
  ])('refuses %j with a usage error', (args, message) => {
    let err: unknown;
    try {
      parseRequestsArgs(args);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).exitCode).toBe(2);
    expect((err as Error).message).toMatch(message);
  });
});

describe('unique and renderRequestList', () => {
  it('dedupes in order and renders valid JSON, one path a line', () => {
    const paths = unique(['/image/files/a', '/image/files/b', '/image/files/a']);
    expect(paths).toEqual(['/image/files/a', '/image/files/b']);
    const text = renderRequestList(paths);
    expect(JSON.parse(text)).toEqual(paths);
    expect(text.split('\n')).toHaveLength(5);
  });
});

describe('requests.run (files)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'requests-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists decodable originals with valid keys, leaving out truncated files and bad names', async () => {
    const originals = path.join(dir, 'originals');
    const good = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } })
      .jpeg()
      .toBuffer();
    const { mkdirSync } = await import('node:fs');
    mkdirSync(path.join(originals, 'sub'), { recursive: true });
    writeFileSync(path.join(originals, 'a.jpg'), good);
    writeFileSync(path.join(originals, 'sub', 'b.jpg'), good);
    writeFileSync(path.join(originals, 'bad name.jpg'), good);
    writeFileSync(path.join(originals, 'truncated.jpg'), good.subarray(0, 200));
    writeFileSync(path.join(originals, 'notes.txt'), 'not an image');
    const out = path.join(dir, 'out', 'requests.json');
    const code = await requests.run(['--from-originals', originals, '--variants', 'w=10;w=20', '--out', out], {});
    expect(code).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual([
      '/image/files/a.jpg?w=10',
      '/image/files/sub/b.jpg?w=10',
      '/image/files/a.jpg?w=20',
      '/image/files/sub/b.jpg?w=20',
    ]);
  });

  it('reads an access log and refuses to write an empty list', async () => {
    const log = path.join(dir, 'access.log');
    writeFileSync(log, [line({ method: 'GET', uri: '/image/files/a.jpg?w=1' }), line({ method: 'DELETE', uri: '/image/files' })].join('\n'));
    const out = path.join(dir, 'log.json');
    expect(await requests.run(['--from-log', log, '--out', out], {})).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(['/image/files/a.jpg?w=1']);

    writeFileSync(log, line({ method: 'POST', uri: '/image/files' }));
    await expect(requests.run(['--from-log', log, '--out', path.join(dir, 'empty.json')], {})).rejects.toThrow(/no replayable request found/);
    await expect(requests.run(['--from-log', path.join(dir, 'missing.log')], {})).rejects.toThrow(/cannot read the access log/);
  });
});
