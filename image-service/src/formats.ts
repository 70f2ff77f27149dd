/**
 * PURE: recognise an original by its magic bytes. Only formats both backends decode the same way
 * are accepted; SVG in particular is refused before any decoder sees it, because it can carry
 * scripts and make the renderer fetch URLs.
 */
export type SourceFormat = 'jpeg' | 'png' | 'gif' | 'webp';

export const CONTENT_TYPES: Record<SourceFormat, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  gif: 'image/gif',
  webp: 'image/webp',
};

export const SUPPORTED_FORMATS_TEXT = 'JPEG, PNG, WebP or GIF';

export function sniffFormat(head: Uint8Array): SourceFormat | undefined {
  const b = (i: number) => head[i];
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpeg';
  if (b(0) === 0x89 && b(1) === 0x50 && b(2) === 0x4e && b(3) === 0x47 && b(4) === 0x0d && b(5) === 0x0a && b(6) === 0x1a && b(7) === 0x0a) return 'png';
  if (b(0) === 0x47 && b(1) === 0x49 && b(2) === 0x46 && b(3) === 0x38) return 'gif';
  if (b(0) === 0x52 && b(1) === 0x49 && b(2) === 0x46 && b(3) === 0x46 && b(8) === 0x57 && b(9) === 0x45 && b(10) === 0x42 && b(11) === 0x50) return 'webp';
  return undefined;
}

/** Content type of an original the store does not label, from its first bytes. */
export function contentTypeOf(head: Uint8Array): string {
  const format = sniffFormat(head);
  return format ? CONTENT_TYPES[format] : 'application/octet-stream';
}
