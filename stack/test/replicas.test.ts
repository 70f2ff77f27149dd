import { describe, expect, it } from 'vitest';
import { parseCutover } from '../../gateway/src/cutover/schema.ts';
import { parseReplicaCount, replicaAdminPort, replicaConcurrency, replicaName, replicaPorts } from '../replicas.ts';
import { replicaStartOptions, stackAddresses } from '../stack.ts';

describe('parseReplicaCount (IMAGE_SERVICE_REPLICAS)', () => {
  it.each([
    [undefined, 1],
    ['', 1],
    ['1', 1],
    ['3', 3],
    ['16', 16],
  ])('%j -> %d', (raw, n) => expect(parseReplicaCount(raw)).toEqual({ ok: true, value: n }));
  it('unset: the fallback (as many as the cutover file lists)', () => expect(parseReplicaCount(undefined, 3)).toEqual({ ok: true, value: 3 }));
  it.each(['0', '17', '-1', '2.5', 'three', '1e1', ' '])('%j is refused, saying what was expected', (raw) => {
    const r = parseReplicaCount(raw);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error).toBe(`IMAGE_SERVICE_REPLICAS: expected an integer from 1 to 16 (image-service processes behind the front door), got '${raw}'`);
  });
});

describe('replica ports, admin ports, concurrency, names', () => {
  it('every 100 from the first: 8082, 8182, 8282', () => expect(replicaPorts(8082, 3)).toEqual([8082, 8182, 8282]));
  it('refuses ports past 65535', () => expect(() => replicaPorts(65400, 3)).toThrowError(/ports up to 65600/));
  it('admin: ADMIN_PORT stepped like the public ports; the documented pair on the documented ports; else any', () => {
    expect([0, 1, 2].map((i) => replicaAdminPort(i, 8082 + 100 * i, 7000))).toEqual([7000, 7100, 7200]);
    expect([0, 1, 2].map((i) => replicaAdminPort(i, 8082 + 100 * i, undefined))).toEqual([9082, 9182, 9282]);
    expect(replicaAdminPort(1, 40123, undefined)).toBeUndefined();
    expect(replicaAdminPort(0, 28082, undefined)).toBeUndefined();
    expect(replicaAdminPort(1, 8082, undefined)).toBeUndefined();
  });
  it('concurrency: the cores divided among the replicas, at least 1', () => {
    expect(replicaConcurrency(2, 1)).toBe(2);
    expect(replicaConcurrency(2, 2)).toBe(1);
    expect(replicaConcurrency(2, 3)).toBe(1);
    expect(replicaConcurrency(8, 3)).toBe(2);
    expect(replicaConcurrency(16, 4)).toBe(4);
  });
  it('names: one replica keeps the old name (log lines, shutdown order)', () => {
    expect(replicaName(0, 1, 8082)).toBe('image service');
    expect(replicaName(1, 3, 8182)).toBe('image service 2/3 (:8182)');
  });
});

describe('replicaStartOptions', () => {
  it('one replica: the environment as it is', () => {
    expect(replicaStartOptions({ STORAGE_URL: 'file:///x' }, [8082], 2)).toEqual([{ env: { STORAGE_URL: 'file:///x' }, port: 8082, adminPort: 9082 }]);
  });
  it('several: CONCURRENCY divided unless set by hand, admin ports stepped', () => {
    const three = replicaStartOptions({ ADMIN_PORT: '9500' }, [8082, 8182, 8282], 2);
    expect(three.map((r) => [r.port, r.adminPort, r.env.CONCURRENCY])).toEqual([
      [8082, 9500, '1'],
      [8182, 9600, '1'],
      [8282, 9700, '1'],
    ]);
    expect(replicaStartOptions({ CONCURRENCY: '4' }, [1, 2], 2).map((r) => r.env.CONCURRENCY)).toEqual(['4', '4']);
  });
});

describe('stackAddresses with replicas', () => {
  const shipped = parseCutover(
    'listen: 127.0.0.1:8080\nlegacy: 127.0.0.1:8081\nroutes:\n  - name: images\n    path: /image/files/\n    backend: 127.0.0.1:8082\n',
  );
  it('one replica on the file ports: no override', () => {
    expect(stackAddresses(shipped)).toEqual({ ports: { front: 8080, legacy: 8081, service: 8082, services: [8082] }, addresses: {} });
  });
  it('three replicas of the shipped file: 8082, 8182, 8282, and the route backend replaced by all three', () => {
    const { ports, addresses } = stackAddresses(shipped, { replicas: 3 });
    expect(ports.services).toEqual([8082, 8182, 8282]);
    expect(addresses).toEqual({ backend: ['127.0.0.1:8082', '127.0.0.1:8182', '127.0.0.1:8282'] });
  });
  it('SERVICE_PORT moves the first replica, the others follow', () => {
    expect(stackAddresses(shipped, { service: 7000, replicas: 2 }).addresses.backend).toEqual(['127.0.0.1:7000', '127.0.0.1:7100']);
  });
  it('a file that lists its replicas runs as many, on its ports, with no override', () => {
    const listed = parseCutover('routes:\n  - name: images\n    path: /image/files/\n    backend: [127.0.0.1:8082, 127.0.0.1:8090]\n');
    expect(stackAddresses(listed)).toMatchObject({ ports: { services: [8082, 8090] }, addresses: {} });
  });
});
