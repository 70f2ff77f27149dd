/**
 * The one error type of the image service (imgproxy's public/private split): a stable machine
 * code and HTTP status that clients see, a public message that says what was expected, and a
 * private cause that only reaches the log.
 */
export type ErrorCode =
  | 'invalid_key'
  | 'invalid_parameter'
  | 'invalid_signature'
  | 'not_found'
  | 'method_not_allowed'
  | 'image_too_large'
  | 'unsupported_image'
  | 'overloaded'
  | 'internal'
  | 'storage_unavailable'
  | 'timeout';

const STATUS: Record<ErrorCode, number> = {
  invalid_key: 400,
  invalid_parameter: 400,
  invalid_signature: 403,
  not_found: 404,
  method_not_allowed: 405,
  image_too_large: 413,
  unsupported_image: 415,
  overloaded: 503,
  internal: 500,
  storage_unavailable: 502,
  timeout: 504,
};

export class ImageError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra response headers, e.g. Retry-After on 503. */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; headers?: Record<string, string> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'ImageError';
    this.code = code;
    this.status = STATUS[code];
    this.headers = options.headers ?? {};
  }
}

/** Anything that is not already an ImageError becomes a generic 500; the detail stays private. */
export function toImageError(err: unknown): ImageError {
  if (err instanceof ImageError) return err;
  return new ImageError('internal', 'internal server error', { cause: err });
}

export function errorBody(err: ImageError): { error: ErrorCode; message: string } {
  return { error: err.code, message: err.message };
}
