import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

const DEFAULTS = { storageUrl: 'file:///srv/originals', cpus: 3 };

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env, DEFAULTS);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const c = loadConfig({}, DEFAULTS);
    expect(c).toMatchObject({
      port: 8082,
      host: '127.0.0.1',
      adminPort: 9082,
      adminHost: '127.0.0.1',
      concurrency: 3,
      queueLimit: 12,
      // serviceDeadlineMs(2000), the front door's default timeout_ms (support/test/deadlines.test.ts).
      requestTimeoutMs: 1600,
      renderTimeoutMs: 1600,
      storageConcurrency: 12,
      storageTimeoutMs: 5_000,
      shutdownTimeoutMs: 10_000,
      maxInputBytes: 50 * 1024 * 1024,
      maxInputPixels: 50_000_000,
      fastShrinkOnLoad: 'jpeg',
      sharpConcurrency: 1,
      retryAfterSeconds: 1,
      logLevel: 'info',
      signingSecret: undefined,
      allowedSizes: undefined,
    });
    expect(c.storage.url.href).toBe('file:///srv/originals');
    expect(c.storage.s3ForcePathStyle).toBe(false);
  });

  it('reads every setting', () => {
    const c = loadConfig(
      {
        PORT: '9000',
        HOST: '0.0.0.0',
        ADMIN_PORT: '9100',
        ADMIN_HOST: '10.0.0.1',
        RENDER_TIMEOUT_MS: '900',
        STORAGE_CONCURRENCY: '4',
        STORAGE_URL: 's3://bucket/some/prefix',
        S3_ENDPOINT: 'http://127.0.0.1:7070',
        AWS_REGION: 'eu-west-1',
        CONCURRENCY: '5',
        QUEUE_LIMIT: '0',
        REQUEST_TIMEOUT_MS: '2500',
        STORAGE_TIMEOUT_MS: '700',
        SHUTDOWN_TIMEOUT_MS: '0',
        MAX_INPUT_BYTES: '1000',
        MAX_INPUT_PIXELS: '2000',
        FAST_SHRINK_ON_LOAD: 'true',
        SHARP_CONCURRENCY: '0',
        RETRY_AFTER_SECONDS: '7',
        LOG_LEVEL: 'warn',
        SIGNING_SECRET: '0123456789abcdef',
        ALLOWED_SIZES: '300x, x200 ,200x200',
      },
      DEFAULTS,
    );
    expect(c).toMatchObject({
      port: 9000,
      host: '0.0.0.0',
      adminPort: 9100,
      adminHost: '10.0.0.1',
      renderTimeoutMs: 900,
      storageConcurrency: 4,
      concurrency: 5,
      queueLimit: 0,
      requestTimeoutMs: 2500,
      storageTimeoutMs: 700,
      shutdownTimeoutMs: 0,
      maxInputBytes: 1000,
      maxInputPixels: 2000,
      fastShrinkOnLoad: true,
      sharpConcurrency: 0,
      retryAfterSeconds: 7,
      logLevel: 'warn',
      signingSecret: '0123456789abcdef',
      allowedSizes: ['300x', 'x200', '200x200'],
    });
    expect(c.storage).toMatchObject({ s3Endpoint: 'http://127.0.0.1:7070', s3Region: 'eu-west-1', s3ForcePathStyle: true });
    expect(c.storage.url.hostname).toBe('bucket');
    expect(c.queueLimit).toBe(0);
  });

  it('defaults the queue to 4 per slot, and path-style addressing on for a custom endpoint unless told otherwise', () => {
    expect(loadConfig({ CONCURRENCY: '2' }, DEFAULTS).queueLimit).toBe(8);
    expect(loadConfig({ STORAGE_URL: 's3://b', S3_ENDPOINT: 'http://h:1', S3_FORCE_PATH_STYLE: 'false' }, DEFAULTS).storage.s3ForcePathStyle).toBe(false);
  });

  it('derives the render bound from the request deadline unless told otherwise, and refuses an admin port equal to the public one', () => {
    expect(loadConfig({ REQUEST_TIMEOUT_MS: '3000' }, DEFAULTS).renderTimeoutMs).toBe(3000);
    expect(problems({ PORT: '9082' })).toEqual([
      'ADMIN_PORT: expected a port other than PORT (9082): /metrics, /readyz and /healthz must not be on the public port',
    ]);
  });

  it('leaves the result cache off by default, and reads its memory budget and disk tier in MiB', () => {
    expect(loadConfig({}, DEFAULTS).resultCache).toBeUndefined();
    expect(loadConfig({ RESULT_CACHE_MB: '0' }, DEFAULTS).resultCache).toBeUndefined();
    expect(loadConfig({ RESULT_CACHE_MB: '64' }, DEFAULTS).resultCache).toEqual({ memoryBytes: 64 * 1048576, disk: undefined });
    expect(loadConfig({ RESULT_CACHE_MB: '64', RESULT_CACHE_DIR: '/var/cache/img' }, DEFAULTS).resultCache).toEqual({
      memoryBytes: 64 * 1048576,
      disk: { dir: '/var/cache/img', bytes: 1024 * 1048576 },
    });
    expect(loadConfig({ RESULT_CACHE_MB: '1', RESULT_CACHE_DIR: '/c', RESULT_CACHE_DISK_MB: '10' }, DEFAULTS).resultCache?.disk?.bytes).toBe(10 * 1048576);
  });

  it('refuses a result cache disk tier without a memory tier, a disk budget without a directory, and a relative directory', () => {
    expect(problems({ RESULT_CACHE_DIR: '/c' })).toEqual(['RESULT_CACHE_DIR: expected RESULT_CACHE_MB above 0 as well: the disk tier backs the memory tier']);
    expect(problems({ RESULT_CACHE_MB: '8', RESULT_CACHE_DISK_MB: '100' })).toEqual([
      'RESULT_CACHE_DISK_MB: expected RESULT_CACHE_DIR as well: a disk budget needs a directory',
    ]);
    expect(problems({ RESULT_CACHE_MB: '8', RESULT_CACHE_DIR: 'cache' })).toEqual(['RESULT_CACHE_DIR: expected an absolute directory path']);
    expect(problems({ RESULT_CACHE_MB: 'lots' })[0]).toMatch(/^RESULT_CACHE_MB: expected an integer from 0 to/);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ PORT: '', CONCURRENCY: '' }, DEFAULTS)).toMatchObject({ port: 8082, concurrency: 3 });
  });

  it.each([
    ['FAST_SHRINK_ON_LOAD', 'true', true],
    ['FAST_SHRINK_ON_LOAD', '1', true],
    ['FAST_SHRINK_ON_LOAD', 'false', false],
    ['FAST_SHRINK_ON_LOAD', '0', false],
    ['FAST_SHRINK_ON_LOAD', 'jpeg', 'jpeg'],
  ])('flags: %s=%s is %s (never a truthy string)', (name, value, expected) => {
    expect(loadConfig({ [name]: value }, DEFAULTS).fastShrinkOnLoad).toBe(expected);
  });

  it('reports every problem at once, each naming its variable and what was expected', () => {
    const list = problems({
      PORT: '80a',
      STORAGE_URL: 'http://example.com/x',
      S3_ENDPOINT: 'not a url',
      CONCURRENCY: '0',
      QUEUE_LIMIT: '-1',
      REQUEST_TIMEOUT_MS: '1.5',
      STORAGE_TIMEOUT_MS: '9999999',
      FAST_SHRINK_ON_LOAD: 'yes',
      SHARP_CONCURRENCY: 'many',
      LOG_LEVEL: 'loud',
      SIGNING_SECRET: 'short',
      ALLOWED_SIZES: '300 by 200',
      RETRY_AFTER_SECONDS: '0',
      ADMIN_PORT: '70000',
      RENDER_TIMEOUT_MS: '0',
      STORAGE_CONCURRENCY: 'x',
    });
    const expected: Array<[string, string]> = [
      ['PORT', 'an integer from 0 to 65535'],
      ['STORAGE_URL', 'file:///absolute/dir or s3://bucket/optional/prefix'],
      ['S3_ENDPOINT', 'http(s) URL'],
      ['CONCURRENCY', 'an integer from 1 to 256'],
      ['QUEUE_LIMIT', 'an integer from 0 to 100000'],
      ['REQUEST_TIMEOUT_MS', 'an integer from 1 to 600000'],
      ['STORAGE_TIMEOUT_MS', 'an integer from 1 to 600000'],
      ['FAST_SHRINK_ON_LOAD', "'jpeg', 'true' or 'false'"],
      ['SHARP_CONCURRENCY', 'an integer from 0 to 64'],
      ['LOG_LEVEL', 'info'],
      ['SIGNING_SECRET', 'at least 16 characters'],
      ['ALLOWED_SIZES', 'WxH boxes'],
      ['RETRY_AFTER_SECONDS', 'an integer from 1 to 3600'],
      ['ADMIN_PORT', 'an integer from 0 to 65535'],
      ['RENDER_TIMEOUT_MS', 'an integer from 1 to 600000'],
      ['STORAGE_CONCURRENCY', 'an integer from 1 to 1024'],
    ];
    for (const [name, what] of expected) {
      const line = list.find((p) => p.startsWith(`${name}:`));
      expect(line, `a problem for ${name} in ${JSON.stringify(list)}`).toBeDefined();
      expect(line).toContain(what);
    }
    expect(list).toHaveLength(expected.length);
  });

  it('the error message lists the problems one per line', () => {
    try {
      loadConfig({ PORT: 'x', CONCURRENCY: 'y' }, DEFAULTS);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).toMatch(/^invalid configuration:\n {2}- PORT: .*\n {2}- CONCURRENCY: /);
    }
  });
});
