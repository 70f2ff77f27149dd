<?php

declare(strict_types=1);

namespace Legacy;

/**
 * PURE parsing of the hot endpoint's key and query (section 1 of the image API contract).
 * Mirrors image-service/src/params.ts rule for rule; the parity test feeds both the same inputs.
 * Every function returns a value or throws HttpError, nothing else.
 */
final class Params
{
    public const MAX_KEY_LENGTH = 512;
    public const MAX_SIDE = 4096;
    public const DEFAULT_QUALITY = 85;
    private const KNOWN = ['w', 'h', 'fit', 'q', 'format'];

    /**
     * Validates the raw (still percent-encoded) path after /image/files/. Exactly one round of
     * percent-decoding, as the contract says: %252e stays %2e and is refused.
     */
    public static function parseKey(string $rawEncoded): string
    {
        // decodeURIComponent refuses a '%' that does not start an escape, and bytes that are not UTF-8.
        if (preg_match('/%(?![0-9A-Fa-f]{2})/', $rawEncoded) === 1) {
            throw self::invalidKey('malformed percent-encoding');
        }
        $key = rawurldecode($rawEncoded);
        if (preg_match('//u', $key) !== 1) {
            throw self::invalidKey('malformed percent-encoding');
        }
        return self::validateKey($key);
    }

    /** Validates an already decoded key (an upload's form field, a batch delete's JSON string). */
    public static function validateKey(string $key): string
    {
        if ($key === '') {
            throw self::invalidKey('the key is empty');
        }
        $length = self::utf16Length($key);
        if ($length > self::MAX_KEY_LENGTH) {
            throw self::invalidKey("the key is $length characters long");
        }
        if ($key[0] === '/') {
            throw self::invalidKey('the key starts with /');
        }
        foreach (explode('/', $key) as $segment) {
            if ($segment === '') {
                throw self::invalidKey('the key has an empty segment');
            }
            if ($segment === '.' || $segment === '..') {
                throw self::invalidKey("the key has a '$segment' segment");
            }
            if (preg_match('/^[A-Za-z0-9._-]+$/D', $segment) !== 1) {
                throw self::invalidKey('the key contains a character outside the allowed set');
            }
        }
        return $key;
    }

    /**
     * Splits a raw query string into decoded pairs, in order and with repeats, as the WHATWG
     * URLSearchParams does ('+' is a space, empty pieces are skipped). PHP's $_GET would not do:
     * it keeps only the last of a repeated name and turns 'a.b' into 'a_b'.
     *
     * @return list<array{0: string, 1: string}>
     */
    public static function queryPairs(string $rawQuery): array
    {
        $pairs = [];
        foreach (explode('&', $rawQuery) as $piece) {
            if ($piece === '') {
                continue;
            }
            $eq = strpos($piece, '=');
            $name = $eq === false ? $piece : substr($piece, 0, $eq);
            $value = $eq === false ? '' : substr($piece, $eq + 1);
            $pairs[] = [urldecode($name), urldecode($value)];
        }
        return $pairs;
    }

    /**
     * The query of the hot endpoint -> a ResizeRequest, or null for a plain download (none of the
     * known parameters present). Unknown parameters are ignored, as the contract says; a known
     * one given twice is refused, because which of the two wins is anybody's guess.
     *
     * @param list<array{0: string, 1: string}> $pairs
     */
    public static function parseImageRequest(array $pairs): ?ResizeRequest
    {
        $seen = [];
        foreach ($pairs as [$name, $value]) {
            if (in_array($name, self::KNOWN, true)) {
                if (array_key_exists($name, $seen)) {
                    throw new HttpError('invalid_parameter', "invalid parameter $name: expected at most one value, got it more than once");
                }
                $seen[$name] = $value;
            }
        }
        if ($seen === []) {
            return null;
        }
        $width = isset($seen['w']) ? self::intInRange('w', $seen['w'], 1, self::MAX_SIDE) : null;
        $height = isset($seen['h']) ? self::intInRange('h', $seen['h'], 1, self::MAX_SIDE) : null;
        $quality = isset($seen['q']) ? self::intInRange('q', $seen['q'], 1, 100) : self::DEFAULT_QUALITY;
        $fit = $seen['fit'] ?? 'inside';
        if ($fit !== 'inside' && $fit !== 'cover') {
            throw self::invalidParam('fit', "'inside' or 'cover'", $fit);
        }
        if ($fit === 'cover' && ($width === null || $height === null)) {
            throw new HttpError('invalid_parameter', 'invalid parameter fit: cover needs both w and h (integers from 1 to 4096)');
        }
        $format = $seen['format'] ?? null;
        if ($format !== null && !in_array($format, ['jpeg', 'png', 'webp'], true)) {
            throw self::invalidParam('format', "'jpeg', 'png' or 'webp'", $format);
        }
        return new ResizeRequest($width, $height, $fit, $quality, $format);
    }

    /**
     * Canonical decimal integer only: no sign, exponent, hex, fraction, whitespace or leading zero.
     * One spelling per number, so that w=0100 and w=100 cannot become two cache entries for the
     * same image.
     */
    private static function intInRange(string $name, string $raw, int $min, int $max): int
    {
        if (preg_match('/^(0|[1-9][0-9]{0,9})$/D', $raw) !== 1 || (int) $raw < $min || (int) $raw > $max) {
            throw self::invalidParam($name, "a canonical decimal integer from $min to $max (digits only: no sign, leading zero, exponent or spaces)", $raw);
        }
        return (int) $raw;
    }

    private static function invalidKey(string $why): HttpError
    {
        return new HttpError(
            'invalid_key',
            "invalid key: $why; expected 1 to " . self::MAX_KEY_LENGTH . " characters of A-Z a-z 0-9 . _ - in '/'-separated segments, with no empty, '.' or '..' segment and no leading '/'",
        );
    }

    private static function invalidParam(string $name, string $expected, string $got): HttpError
    {
        $shown = json_encode(self::prefix($got, 64), JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_LINE_TERMINATORS | JSON_INVALID_UTF8_SUBSTITUTE);
        return new HttpError('invalid_parameter', "invalid parameter $name: expected $expected, got $shown");
    }

    /** Length as JavaScript counts it (UTF-16 code units), so both backends give the same limit. */
    private static function utf16Length(string $s): int
    {
        $chars = preg_split('//u', $s, -1, PREG_SPLIT_NO_EMPTY);
        if ($chars === false) {
            return strlen($s);
        }
        $units = 0;
        foreach ($chars as $ch) {
            $units += strlen($ch) === 4 ? 2 : 1;
        }
        return $units;
    }

    /** The first $n characters, for quoting a bad value back without echoing a huge one. */
    private static function prefix(string $s, int $n): string
    {
        $chars = preg_split('//u', $s, -1, PREG_SPLIT_NO_EMPTY);
        return $chars === false ? substr($s, 0, $n) : implode('', array_slice($chars, 0, $n));
    }
}
