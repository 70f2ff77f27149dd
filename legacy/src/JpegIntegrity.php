<?php

declare(strict_types=1);

namespace Legacy;

/**
 * PURE: does a JPEG reach its end-of-image marker?
 *
 * libjpeg treats a truncated file as a warning ("Premature end of JPEG file") and pads the
 * missing rows with grey; ImageMagick 6.9.11 passes the warning on, and Imagick 3.7 drops
 * warnings altogether (Imagick/imagick#580), so a half image would be served as if it were
 * whole. Instead, the marker structure is walked here: segments by their lengths, entropy-coded
 * data up to the next real marker (0xFF followed by neither a stuffed 0x00 nor a restart
 * marker), until EOI. A file that ends first is truncated.
 */
final class JpegIntegrity
{
    public static function isComplete(string $bytes): bool
    {
        $n = strlen($bytes);
        if ($n < 4 || !str_starts_with($bytes, "\xFF\xD8")) {
            return false;
        }
        $i = 2;
        while ($i < $n) {
            // Bytes between segments are tolerated, as libjpeg tolerates them (with a warning).
            $i = strpos($bytes, "\xFF", $i);
            if ($i === false) {
                return false;
            }
            while ($i < $n && $bytes[$i] === "\xFF") {
                $i++; // fill bytes
            }
            if ($i >= $n) {
                return false;
            }
            $marker = ord($bytes[$i]);
            $i++;
            if ($marker === 0xD9) {
                return true; // EOI
            }
            if ($marker === 0x00 || $marker === 0x01 || $marker === 0xD8 || ($marker >= 0xD0 && $marker <= 0xD7)) {
                continue; // markers without a length
            }
            if ($i + 2 > $n) {
                return false;
            }
            $length = (ord($bytes[$i]) << 8) | ord($bytes[$i + 1]);
            if ($length < 2 || $i + $length > $n) {
                return false;
            }
            $i += $length;
            if ($marker === 0xDA) {
                $i = self::endOfScan($bytes, $i, $n);
                if ($i === null) {
                    return false;
                }
            }
        }
        return false;
    }

    /** Offset of the first real marker after a scan's entropy-coded data, or null if the file ends first. */
    private static function endOfScan(string $bytes, int $i, int $n): ?int
    {
        while (true) {
            $p = strpos($bytes, "\xFF", $i);
            if ($p === false) {
                return null;
            }
            $q = $p + 1;
            while ($q < $n && $bytes[$q] === "\xFF") {
                $q++;
            }
            if ($q >= $n) {
                return null;
            }
            $next = ord($bytes[$q]);
            if ($next === 0x00 || ($next >= 0xD0 && $next <= 0xD7)) {
                $i = $q + 1; // stuffed 0xFF or a restart marker: still inside the scan
                continue;
            }
            return $p;
        }
    }
}
