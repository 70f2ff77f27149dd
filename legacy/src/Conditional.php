<?php

declare(strict_types=1);

namespace Legacy;

/** PURE: ETags and If-None-Match. */
final class Conditional
{
    /**
     * Bumped whenever the output for the same inputs changes, so that caches holding the old
     * bytes under the old ETag revalidate. The 'legacy' prefix keeps these strong ETags apart from
     * the new service's: the two backends encode different bytes, so they must never share one.
     */
    public const PIPELINE_VERSION = 'legacy-1';

    /** A strong ETag, stable for the same original version and the same canonical variant. */
    public static function etag(string $sourceVersion, string $variant): string
    {
        $digest = rtrim(strtr(base64_encode(hash('sha256', self::PIPELINE_VERSION . "\0$sourceVersion\0$variant", true)), '+/', '-_'), '=');
        return '"' . substr($digest, 0, 32) . '"';
    }

    /** Weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored; '*' matches any. */
    public static function ifNoneMatchMatches(?string $header, string $etag): bool
    {
        if ($header === null || $header === '') {
            return false;
        }
        $bare = static fn (string $t): string => preg_replace('#^W/#', '', trim($t)) ?? $t;
        $want = $bare($etag);
        foreach (explode(',', $header) as $candidate) {
            if (trim($candidate) === '*' || $bare($candidate) === $want) {
                return true;
            }
        }
        return false;
    }

    /** HTTP date of a Unix time, as Last-Modified wants it. */
    public static function httpDate(int $time): string
    {
        return gmdate('D, d M Y H:i:s', $time) . ' GMT';
    }
}
