<?php

declare(strict_types=1);

namespace Legacy;

/**
 * PURE: recognise an original by its magic bytes (the same rules as the image service's
 * formats.ts). Only JPEG, PNG, WebP and GIF ever reach ImageMagick: its other coders (SVG, MVG,
 * PostScript, TIFF, ...) are a long history of security holes, and the new service refuses
 * them as well.
 */
final class Formats
{
    public const CONTENT_TYPES = [
        'jpeg' => 'image/jpeg',
        'png' => 'image/png',
        'gif' => 'image/gif',
        'webp' => 'image/webp',
    ];

    public const SUPPORTED_TEXT = 'JPEG, PNG, WebP or GIF';

    /** 'jpeg' | 'png' | 'gif' | 'webp', or null for anything else. */
    public static function sniff(string $head): ?string
    {
        if (str_starts_with($head, "\xFF\xD8\xFF")) {
            return 'jpeg';
        }
        if (str_starts_with($head, "\x89PNG\r\n\x1A\n")) {
            return 'png';
        }
        if (str_starts_with($head, 'GIF8')) {
            return 'gif';
        }
        if (strlen($head) >= 12 && substr($head, 0, 4) === 'RIFF' && substr($head, 8, 4) === 'WEBP') {
            return 'webp';
        }
        return null;
    }

    /** Content type of a plain download: the directory keeps none, so it comes from the magic bytes. */
    public static function contentTypeOf(string $head): string
    {
        $format = self::sniff($head);
        return $format === null ? 'application/octet-stream' : self::CONTENT_TYPES[$format];
    }

    /** Default output for a source: the same format, except GIF, whose first frame becomes PNG. */
    public static function defaultOutput(string $source): string
    {
        return $source === 'gif' ? 'png' : $source;
    }
}
