/** `nginx -t`: the nginx that will run a config is the one that judges it. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { GatewayError } from '../errors.ts';

const execFileAsync = promisify(execFile);

/** `nginx -t` on a config file; throws GatewayError('nginx_test_failed') with nginx's own words. */
export async function testNginxConfig(nginxBin: string, runDir: string, confFile: string): Promise<void> {
  try {
    await execFileAsync(nginxBin, ['-t', '-q', '-p', `${path.resolve(runDir)}/`, '-e', 'stderr', '-c', path.resolve(confFile)], { timeout: 30_000 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const detail = (e.stderr ?? '').trim() || e.message;
    throw new GatewayError('nginx_test_failed', `nginx rejected the rendered config (nginx -t):\n${detail}`, { cause: err });
  }
}
