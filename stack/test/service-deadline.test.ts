import { describe, expect, it } from 'vitest';
import { serviceDeadline } from '../service-deadline.ts';

const routes = [{ name: 'images', timeout_ms: 10_000 }];

describe('serviceDeadline: REQUEST_TIMEOUT_MS of the image service under the stack', () => {
  it('is serviceDeadlineMs of the route timeout when the user sets nothing', () => {
    expect(serviceDeadline(routes, undefined)).toEqual({ ok: true, ms: 8000 });
    expect(serviceDeadline([{ name: 'images', timeout_ms: 300 }], '')).toEqual({ ok: true, ms: 200 });
  });
  it('with several routes on the one service, the shortest wins', () => {
    expect(serviceDeadline([...routes, { name: 'thumbs', timeout_ms: 1000 }], undefined)).toEqual({ ok: true, ms: 800 });
  });
  it('keeps a user value at or below it', () => {
    expect(serviceDeadline(routes, '8000')).toEqual({ ok: true, ms: 8000 });
    expect(serviceDeadline(routes, '2500')).toEqual({ ok: true, ms: 2500 });
  });
  it('refuses a user value above it, naming the route, its timeout and the most allowed', () => {
    const r = serviceDeadline(routes, '15000');
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toBe(
      'REQUEST_TIMEOUT_MS=15000 is longer than the front door waits for the image service (route images: timeout_ms 10000); expected at most 8000, or unset it to get 8000',
    );
  });
  it.each(['abc', '-5', '0', '1.5', '10s'])('refuses %j: not a whole number of ms', (raw) => {
    const r = serviceDeadline(routes, raw);
    expect(!r.ok && r.error).toBe(`REQUEST_TIMEOUT_MS: expected a whole number of milliseconds from 1 to 8000, got '${raw}'`);
  });
  it('without routes (no front door to outwait), the user value or nothing', () => {
    expect(serviceDeadline([], undefined)).toEqual({ ok: true, ms: undefined });
    expect(serviceDeadline([], '99999')).toEqual({ ok: true, ms: 99999 });
  });
});
