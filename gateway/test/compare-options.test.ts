/** `gateway compare` and `gateway shadow` arguments: good ones parse, bad ones say what was expected. */
import { describe, expect, it } from 'vitest';
import { parseCompareArgs } from '../src/compare/options.ts';
import { DEFAULT_THRESHOLDS } from '../src/compare/thresholds.ts';
import { parseShadowArgs } from '../src/shadow/command.ts';

const base = ['--from', 'log.jsonl', '--legacy', 'http://127.0.0.1:8081', '--new', 'http://127.0.0.1:8082', '--out', 'out'];

describe('parseCompareArgs', () => {
  it('replay with defaults', () => {
    expect(parseCompareArgs(base)).toEqual({
      ok: true,
      value: {
        mode: 'replay',
        from: 'log.jsonl',
        legacy: 'http://127.0.0.1:8081',
        new: 'http://127.0.0.1:8082',
        out: 'out',
        minParity: 0.99,
        ignore: undefined,
        rate: undefined,
        concurrency: 4,
        sample: undefined,
        dedupe: false,
        seed: 1,
        order: 'random',
        timeoutMs: 30000,
        maxImages: 200,
        thresholds: DEFAULT_THRESHOLDS,
        quiet: false,
      },
    });
  });

  it('every option', () => {
    const r = parseCompareArgs([
      ...base,
      '--min-parity',
      '0.995',
      '--ignore',
      'i.yaml',
      '--rate',
      '25',
      '--concurrency',
      '8',
      '--sample',
      '500',
      '--dedupe',
      '--seed',
      '9',
      '--order',
      'parallel',
      '--timeout',
      '5000',
      '--max-images',
      '10',
      '--ssim-min',
      '0.9',
      '--block-max',
      '40',
      '--delta-e-max',
      '3',
      '--quiet',
    ]);
    expect(r.ok && r.value).toMatchObject({
      minParity: 0.995,
      ignore: 'i.yaml',
      rate: 25,
      concurrency: 8,
      sample: 500,
      dedupe: true,
      seed: 9,
      order: 'parallel',
      timeoutMs: 5000,
      maxImages: 10,
      quiet: true,
      thresholds: { ssimMin: 0.9, blockMaxDiff: 40, deltaEMax: 3 },
    });
  });

  it('report and calibrate modes', () => {
    expect(parseCompareArgs(['--report', 'r.jsonl', '--out', 'd'])).toEqual({
      ok: true,
      value: { mode: 'report', report: 'r.jsonl', out: 'd', minParity: 0.99, ignore: undefined },
    });
    const c = parseCompareArgs(['calibrate', '--legacy', 'http://a:1', '--new', 'http://b:2', '--originals', 'dir', '--sizes', '100,200']);
    expect(c.ok && c.value).toMatchObject({ mode: 'calibrate', originals: 'dir', sizes: [100, 200], concurrency: 2 });
    expect(parseCompareArgs(['--help'])).toEqual({ ok: true, value: { mode: 'help' } });
  });

  it.each([
    [
      'missing everything',
      [],
      ['--from: expected the file of recorded requests', '--legacy: expected a URL', '--new: expected a URL', '--out: expected the report folder'],
    ],
    ['min-parity as a percentage', [...base, '--min-parity', '99'], ['--min-parity: expected a number from 0 to 1']],
    ['min-parity not a number', [...base, '--min-parity', 'high'], ['--min-parity: expected a number from 0 to 1']],
    ['concurrency 0', [...base, '--concurrency', '0'], ['--concurrency: expected an integer from 1 to 256']],
    ['concurrency fraction', [...base, '--concurrency', '1.5'], ['--concurrency: expected an integer from 1 to 256']],
    ['rate negative', [...base, '--rate=-3'], ['--rate: expected a number from 0.01 to 100000']],
    ['legacy not a URL', [...base.slice(0, 2), '--legacy', '127.0.0.1:8081', ...base.slice(4)], ['--legacy: expected an http(s) base URL']],
    ['order unknown', [...base, '--order', 'sequential'], ["--order: expected 'random' or 'parallel'"]],
    ['unknown flag', [...base, '--colour'], ["Unknown option '--colour'"]],
    ['flag of another mode', [...base, '--originals', 'x'], ['--originals: not an option of a replay']],
    ['positional', [...base, 'extra'], ['unexpected argument "extra"']],
    ['calibrate without a source', ['calibrate', '--legacy', 'http://a:1', '--new', 'http://b:2'], ['expected exactly one of --from FILE']],
    ['report flags with replay flags', ['--report', 'r.jsonl', '--out', 'd', '--rate', '3'], ['--rate: not an option with --report']],
  ])('%s', (_name, args, messages) => {
    const r = parseCompareArgs(args);
    expect(r.ok).toBe(false);
    const text = r.ok ? '' : r.errors.join('\n');
    for (const m of messages) expect(text).toContain(m);
  });
});

describe('parseShadowArgs', () => {
  const sbase = ['--legacy', 'http://127.0.0.1:8081', '--new', 'http://127.0.0.1:8082', '--out', 'r.jsonl'];
  it('defaults', () => {
    expect(parseShadowArgs(sbase)).toEqual({
      ok: true,
      value: {
        listen: '127.0.0.1:8083',
        legacy: 'http://127.0.0.1:8081',
        new: 'http://127.0.0.1:8082',
        out: 'r.jsonl',
        queue: 64,
        concurrency: 2,
        timeout: 10000,
        'max-images': 200,
        nice: 10,
      },
    });
  });
  it.each([
    ['listen without port', [...sbase, '--listen', 'localhost'], '--listen: expected HOST:PORT'],
    ['port out of range', [...sbase, '--listen', '127.0.0.1:70000'], '--listen: expected a port from 0 to 65535'],
    ['queue zero', [...sbase, '--queue', '0'], '--queue: expected an integer from 1 to 100000'],
    ['missing out', sbase.slice(0, 4), '--out: expected the results file'],
    ['unknown flag', [...sbase, '--rate', '3'], "Unknown option '--rate'"],
    ['nice out of range', [...sbase, '--nice', '20'], '--nice: expected an integer from 0 to 19'],
    ['negative nice (would need privileges and starve serving)', [...sbase, '--nice=-5'], '--nice: expected an integer from 0 to 19'],
  ])('%s', (_name, args, message) => {
    const r = parseShadowArgs(args);
    expect(r.ok ? '' : r.errors.join('\n')).toContain(message);
  });
});
