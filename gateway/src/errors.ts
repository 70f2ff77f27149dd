/**
 * The one error type of the gateway command: a stable code, a message that says what was
 * expected, and an exit code. cli.ts is the one place that turns it into output.
 */
export class GatewayError extends Error {
  readonly code: string;
  readonly exitCode: number;

  constructor(code: string, message: string, options: { cause?: unknown; exitCode?: number } = {}) {
    super(message, { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
  }
}
