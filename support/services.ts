/**
 * The real servers that tests, benchmarks and the stack start: the image service and versitygw.
 * (nginx and PHP-FPM live in support/legacy.ts and the gateway's nginx module.)
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NODE_FLAGS, RUNTIME_ENV } from '../image-service/src/runtime-env.ts';
import { projectRoot } from './fixtures.ts';
import { freePort, startProcess, waitForHttp, type Managed } from './process.ts';
import { findTool } from './tools.ts';

export interface RunningService {
  url: string;
  port: number;
  process: Managed;
  stop(): Promise<void>;
}

/** Starts the image service as users run it (node + tsx, the same env defaults as `npm start`). */
export async function startImageService(env: Record<string, string> = {}, options: { port?: number } = {}): Promise<RunningService> {
  // freePort() is only a hint: another process may take the port before the service binds it. The
  // pid in /healthz tells whether the server answering is ours; if not, try another port.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    const proc = startProcess('image-service', process.execPath, [...NODE_FLAGS, '--import', 'tsx', path.join(projectRoot, 'image-service/src/main.ts')], {
      cwd: projectRoot,
      env: {
        ...process.env,
        ...RUNTIME_ENV,
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        ...env,
        PORT: String(port),
      },
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}/healthz`, { process: proc, timeoutMs: 30_000 });
      const health = (await (await fetch(`${url}/healthz`)).json()) as { pid?: number };
      if (health.pid === proc.pid) return { url, port, process: proc, stop: () => proc.stop() };
      throw new Error(`port ${port} is answered by pid ${health.pid}, not by the image service started as pid ${proc.pid}`);
    } catch (err) {
      await proc.stop();
      if (options.port !== undefined || attempt >= 3) throw err;
    }
  }
}

export interface RunningS3 {
  endpoint: string;
  port: number;
  accessKey: string;
  secretKey: string;
  /** The directory versitygw serves: one sub-directory per bucket. */
  root: string;
  process: Managed;
  /** Environment for an S3 client of this server (the standard AWS variables). */
  clientEnv: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts a real S3-compatible server (versitygw on a posix directory) on a free loopback port. */
export async function startVersitygw(options: { buckets?: string[] } = {}): Promise<RunningS3> {
  const bin = findTool('versitygw');
  const port = await freePort();
  const base = mkdtempSync(path.join(os.tmpdir(), 'versitygw-'));
  const root = path.join(base, 'root');
  const sidecar = path.join(base, 'sidecar');
  mkdirSync(root);
  mkdirSync(sidecar);
  for (const bucket of options.buckets ?? []) mkdirSync(path.join(root, bucket));
  const accessKey = 'testaccess';
  const secretKey = 'testsecret0123456789';
  const proc = startProcess('versitygw', bin, ['--port', `127.0.0.1:${port}`, '--access', accessKey, '--secret', secretKey, 'posix', '--sidecar', sidecar, root], {
    env: { ...process.env, ROOT_ACCESS_KEY: accessKey, ROOT_SECRET_KEY: secretKey },
  });
  const endpoint = `http://127.0.0.1:${port}`;
  // Any HTTP answer (403 for an unsigned request) means it is listening.
  await waitForHttp(endpoint, { process: proc, okStatus: () => true });
  return {
    endpoint,
    port,
    accessKey,
    secretKey,
    root,
    process: proc,
    clientEnv: { AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: 'us-east-1', S3_ENDPOINT: endpoint },
    stop: () => proc.stop(),
  };
}
