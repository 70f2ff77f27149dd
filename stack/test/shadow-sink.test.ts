/**
 * planShadowSink: whether npm start runs a shadow sink, on which address, writing which file (the
 * one the rollout controllers read); shadowSinkArgs: the `gateway shadow` command line it runs.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCutover } from '../../gateway/src/cutover/schema.ts';
import { parseShadowArgs } from '../../gateway/src/shadow/command.ts';
import { projectRoot } from '../../common/paths.ts';
import { planShadowSink, shadowSinkArgs, SINK_RESULTS_MAX_MB } from '../shadow-sink.ts';

const cutoverFile = '/srv/gw/conf/cutover.yaml';
const fallback = '/srv/gw/var/shadow/results.jsonl';

function file(options: { sink?: string; routes: string[] }) {
  const routes = options.routes.map((body, i) => `  - name: r${i}\n    path: /image/files${i}/\n    backend: 127.0.0.1:8082\n${body}`);
  return parseCutover(`listen: 127.0.0.1:8080\nlegacy: 127.0.0.1:8081\n${options.sink ? `shadow_sink: ${options.sink}\n` : ''}routes:\n${routes.join('\n')}`);
}

const rollout = (extra = '', gates = '        parity_min: 0.99\n') =>
  `    rollout:\n      steps: [10, 100]\n      interval: 10m\n      gates:\n${gates}${extra ? `      ${extra}\n` : ''}`;

describe('planShadowSink', () => {
  it('none without a route that mirrors, even with shadow_sink set (the shipped file: shadow_sample 0)', () => {
    expect(planShadowSink(file({ sink: '127.0.0.1:8083', routes: ['    shadow_sample: 0\n'] }), cutoverFile, fallback)).toBeUndefined();
    const shipped = path.join(projectRoot, 'nginx/cutover.yaml');
    expect(planShadowSink(parseCutover(readFileSync(shipped, 'utf8')), shipped, fallback)).toBeUndefined();
  });

  it('on shadow_sink, writing the default file when no rollout reads one', () => {
    expect(
      planShadowSink(file({ sink: '127.0.0.1:18083', routes: ['    shadow_sample: 0\n', '    shadow_sample: 5\n'] }), cutoverFile, 'rel/results.jsonl'),
    ).toEqual({
      listen: '127.0.0.1:18083',
      results: path.resolve('rel/results.jsonl'),
      readBy: [],
    });
  });

  it("a rollout's shadow_results, relative to the cutover file's folder (where its controller reads)", () => {
    const f = file({ sink: '127.0.0.1:8083', routes: [`    shadow_sample: 10\n${rollout('shadow_results: ../var/pairs.jsonl')}`] });
    expect(planShadowSink(f, cutoverFile, fallback)).toEqual({ listen: '127.0.0.1:8083', results: '/srv/gw/var/pairs.jsonl', readBy: ['r0'] });
  });

  it("a rollout with shadow gates and no shadow_results reads the controller's default, <repo>/var/shadow/results.jsonl, not the stack's", () => {
    const f = file({ sink: '127.0.0.1:8083', routes: [`    shadow_sample: 10\n${rollout()}`] });
    expect(planShadowSink(f, cutoverFile, fallback)?.results).toBe(path.join(projectRoot, 'var/shadow/results.jsonl'));
  });

  it('a rollout that reads no pairs (no parity or p99 gate, no shadow_results) does not decide the file', () => {
    const f = file({ sink: '127.0.0.1:8083', routes: [`    shadow_sample: 10\n${rollout('', '        error_rate_max: 0.01\n')}`] });
    expect(planShadowSink(f, cutoverFile, fallback)).toEqual({ listen: '127.0.0.1:8083', results: fallback, readBy: [] });
  });

  it('two rollouts on one file share it; on two files they are refused, saying what is expected', () => {
    const same = rollout('shadow_results: pairs.jsonl');
    const f = file({ sink: '127.0.0.1:8083', routes: [`    shadow_sample: 10\n${same}`, `    shadow_sample: 10\n${same}`] });
    expect(planShadowSink(f, cutoverFile, fallback)).toEqual({ listen: '127.0.0.1:8083', results: '/srv/gw/conf/pairs.jsonl', readBy: ['r0', 'r1'] });
    const g = file({ sink: '127.0.0.1:8083', routes: [`    shadow_sample: 10\n${same}`, `    shadow_sample: 10\n${rollout('shadow_results: other.jsonl')}`] });
    expect(() => planShadowSink(g, cutoverFile, fallback)).toThrow(
      /the rollouts read different shadow results files \(r0: \/srv\/gw\/conf\/pairs\.jsonl, r1: \/srv\/gw\/conf\/other\.jsonl\).*expected the same shadow_results in every rollout block/,
    );
  });
});

describe('shadowSinkArgs', () => {
  it('is a command line `gateway shadow` accepts, with the rotation bound', () => {
    const plan = { listen: '127.0.0.1:18083', results: '/tmp/r.jsonl', readBy: [] };
    const args = shadowSinkArgs(plan, 'http://127.0.0.1:8081', 'http://127.0.0.1:8082');
    expect(args[0]).toBe('shadow');
    expect(parseShadowArgs(args.slice(1))).toEqual({
      ok: true,
      value: expect.objectContaining({
        listen: '127.0.0.1:18083',
        legacy: 'http://127.0.0.1:8081',
        new: 'http://127.0.0.1:8082',
        out: '/tmp/r.jsonl',
        'results-max-mb': SINK_RESULTS_MAX_MB,
      }),
    });
  });
});
