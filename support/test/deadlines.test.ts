/**
 * The new service's default deadline is tied to the front door's: nginx waits timeout_ms for the
 * service and then replays on legacy, so the service must give up (and free its slot) a little
 * before that, at serviceDeadlineMs(timeout_ms). The service and the gateway never import each
 * other; this test is the one place that sees both defaults and keeps them equal.
 */
import { describe, expect, it } from 'vitest';
import { serviceDeadlineMs } from '../../gateway/src/cutover/plan.ts';
import { validateCutover } from '../../gateway/src/cutover/schema.ts';
import { loadConfig } from '../../image-service/src/config.ts';

describe('default deadlines: image service vs front door', () => {
  it("the service's default REQUEST_TIMEOUT_MS equals serviceDeadlineMs(the cutover file's default timeout_ms)", () => {
    const file = validateCutover({ routes: [{ name: 'images', path: '/image/files/', backend: '127.0.0.1:8082' }] });
    expect(file.ok).toBe(true);
    if (!file.ok) return;
    const timeoutMs = file.value.routes[0]!.timeout_ms;
    const service = loadConfig({}, { storageUrl: 'file:///tmp/originals', cpus: 1 });
    expect({ timeoutMs, requestTimeoutMs: service.requestTimeoutMs }).toEqual({ timeoutMs, requestTimeoutMs: serviceDeadlineMs(timeoutMs) });
  });
});
