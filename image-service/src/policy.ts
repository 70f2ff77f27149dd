/**
 * PURE: optional access policy for the hot endpoint. Both are off by default so that existing
 * clients keep working:
 * - signed URLs: the `s` parameter must be the HMAC-SHA256 of the key and the canonical variant,
 *   so a tampered size or key is refused (403) and nobody can mint new variants;
 * - an allowlist of boxes, so that nobody can fill caches and CPU with 4096 arbitrary sizes of every image.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ImageError } from './errors.ts';
import { canonicalVariant, type ImageRequest } from './params.ts';

export interface AccessPolicy {
  signingSecret: string | undefined;
  allowedSizes: string[] | undefined;
}

export function signRequest(secret: string, key: string, request: ImageRequest): string {
  return createHmac('sha256', secret)
    .update(`${key}?${canonicalVariant(request)}`)
    .digest('base64url');
}

/** Returns an ImageError when the request is not allowed, undefined when it is. */
export function checkPolicy(policy: AccessPolicy, key: string, request: ImageRequest, signature: string | undefined): ImageError | undefined {
  if (policy.signingSecret !== undefined) {
    const expected = Buffer.from(signRequest(policy.signingSecret, key, request));
    const given = Buffer.from(signature ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return new ImageError(
        'invalid_signature',
        signature
          ? 'invalid signature: the s parameter does not match this key and these parameters'
          : 'missing signature: expected an s parameter signing this URL',
      );
    }
  }
  if (policy.allowedSizes !== undefined && request.kind === 'resize') {
    const box = `${request.resize.width ?? ''}x${request.resize.height ?? ''}`;
    if (!policy.allowedSizes.includes(box)) {
      return new ImageError('invalid_parameter', `invalid parameter w/h: the box ${box} is not allowed; expected one of ${policy.allowedSizes.join(', ')}`);
    }
  }
  return undefined;
}
