/**
 * The real servers that tests, benchmarks and the stack start: the image service and versitygw.
 * (nginx and PHP-FPM live in stack/legacy.ts and the gateway's nginx module.)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NODE_FLAGS, RUNTIME_ENV } from '../image-service/src/runtime-env.ts';
import { projectRoot } from '../common/paths.ts';
import { freePort, startProcess, waitForHttp, type Managed } from './process.ts';
import { findTool } from './tools.ts';
import { S3Client } from '@aws-sdk/client-s3';

export interface RunningService {
  /** The public listener: the hot endpoint only. */
  url: string;
  port: number;
  /** The admin listener: /healthz, /readyz, /metrics. */
  adminUrl: string;
  adminPort: number;
  process: Managed;
  stop(): Promise<void>;
}

/**
 * Niceness of the image service when it shares a machine with legacy (npm start, test stacks).
 * Under overload both backends want every core; legacy also takes the uploads and deletes, which
 * nothing else serves, so on one machine the new service yields first. (On hosts of their own it
 * changes nothing: niceness only orders processes that compete for a core.)
 */
export const SHARED_HOST_SERVICE_NICE = 5;

/** Starts the image service as users run it (node + tsx, the same env defaults as `npm start`). `nice`: its niceness, default 0. */
export async function startImageService(
  env: Record<string, string> = {},
  options: { port?: number; adminPort?: number; nice?: number } = {},
): Promise<RunningService> {
  // freePort() is only a hint: another process may take the port before the service binds it. The
  // pid in /healthz tells whether the server answering is ours; if not, try other ports.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    // The documented pair (public 8082, admin 9082) when the public port is the documented one
    // (npm start), so operators and `npm run loadtest` find /metrics where the README says.
    const adminPort = options.adminPort ?? (env.ADMIN_PORT ? Number(env.ADMIN_PORT) : options.port === 8082 ? 9082 : await freePort());
    const node = [process.execPath, ...NODE_FLAGS, '--import', 'tsx', path.join(projectRoot, 'image-service/src/main.ts')];
    // nice(1) execs node in its own place: the pid, and every thread node starts, get the niceness.
    const [command, ...args] = options.nice ? ['nice', '-n', String(options.nice), ...node] : node;
    const proc = startProcess('image-service', command!, args, {
      cwd: projectRoot,
      env: {
        ...process.env,
        ...RUNTIME_ENV,
        LOG_LEVEL: 'warn',
        HOST: '127.0.0.1',
        ADMIN_HOST: '127.0.0.1',
        ...env,
        PORT: String(port),
        ADMIN_PORT: String(adminPort),
      },
    });
    const url = `http://127.0.0.1:${port}`;
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    try {
      await waitForHttp(`${adminUrl}/healthz`, { process: proc, timeoutMs: 30_000 });
      const health = (await (await fetch(`${adminUrl}/healthz`)).json()) as { pid?: number };
      if (health.pid !== proc.pid) throw new Error(`port ${adminPort} is answered by pid ${health.pid}, not by the image service started as pid ${proc.pid}`);
      // The public port: any HTTP answer from it (the JSON 404 of '/') while our process is alive.
      await waitForHttp(`${url}/`, { process: proc, timeoutMs: 30_000, okStatus: (s) => s === 404 });
      if (proc.child.exitCode !== null) throw new Error(`the image service exited with ${proc.child.exitCode}:\n${proc.output()}`);
      return { url, port, adminUrl, adminPort, process: proc, stop: () => proc.stop() };
    } catch (err) {
      await proc.stop();
      if ((options.port !== undefined && options.adminPort !== undefined) || attempt >= 3) throw err;
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
  /** An S3 client of this server as root (path-style; checksums only where S3 requires them, as versitygw expects). */
  client(): S3Client;
  /** With `iam: true` only: adds a user (role 'user', who owns nothing and may read only what a bucket policy grants). */
  createUser(accessKey: string, secretKey: string): void;
  stop(): Promise<void>;
}

/** Starts a real S3-compatible server (versitygw on a posix directory) on a free loopback port. */
export async function startVersitygw(options: { buckets?: string[]; iam?: boolean } = {}): Promise<RunningS3> {
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
  // --iam-dir: versitygw's own user store, for tests of what a least-privilege reader sees.
  const iamArgs = options.iam ? ['--iam-dir', path.join(base, 'iam')] : [];
  if (options.iam) mkdirSync(path.join(base, 'iam'));
  const proc = startProcess(
    'versitygw',
    bin,
    ['--port', `127.0.0.1:${port}`, '--access', accessKey, '--secret', secretKey, ...iamArgs, 'posix', '--sidecar', sidecar, root],
    {
      env: { ...process.env, ROOT_ACCESS_KEY: accessKey, ROOT_SECRET_KEY: secretKey },
    },
  );
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
    client: () =>
      new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: { accessKeyId: accessKey, secretAccessKey: secretKey },
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      }),
    createUser(userAccess, userSecret) {
      if (!options.iam) throw new Error('startVersitygw: createUser needs { iam: true }');
      execFileSync(
        bin,
        [
          'admin',
          '--access',
          accessKey,
          '--secret',
          secretKey,
          '--endpoint-url',
          endpoint,
          'create-user',
          '--access',
          userAccess,
          '--secret',
          userSecret,
          '--role',
          'user',
        ],
        { stdio: 'pipe', timeout: 15_000 },
      );
    },
    stop: () => proc.stop(),
  };
}
