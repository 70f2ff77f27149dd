import { describe, expect, it } from 'vitest';
import { loadFrontDoorConfig } from '../src/config.ts';
import { GatewayError } from '../src/errors.ts';

describe('loadFrontDoorConfig: FRONTDOOR_BACKEND', () => {
  it('one address: a list of one', () => {
    expect(loadFrontDoorConfig({ FRONTDOOR_BACKEND: 'image-service:8082' }).addressOverrides.backend).toEqual(['image-service:8082']);
  });
  it('a comma list: one address per replica, spaces allowed', () => {
    expect(loadFrontDoorConfig({ FRONTDOOR_BACKEND: 'image-service-1:8082, image-service-2:8082' }).addressOverrides.backend).toEqual([
      'image-service-1:8082',
      'image-service-2:8082',
    ]);
  });
  it('unset or empty: no override', () => {
    expect(loadFrontDoorConfig({}).addressOverrides.backend).toBeUndefined();
    expect(loadFrontDoorConfig({ FRONTDOOR_BACKEND: '' }).addressOverrides.backend).toBeUndefined();
  });
  it.each([
    ['a:1,a:1', 'FRONTDOOR_BACKEND: expected each address once'],
    ['a:1,,b:2', 'FRONTDOOR_BACKEND.1: expected host:port'],
    ['a:1;b:2', 'FRONTDOOR_BACKEND.0: expected host:port'],
  ])('%j is refused, naming the variable and what was expected', (value, message) => {
    let caught: unknown;
    try {
      loadFrontDoorConfig({ FRONTDOOR_BACKEND: value });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(GatewayError);
    expect((caught as Error).message).toContain(message);
  });
});
