<?php

declare(strict_types=1);

namespace Legacy;

/**
 * PURE geometry, exactly as the contract states it (it is ImageMagick's own geometry
 * arithmetic): clients lay out pages on these sizes, so a 1 px difference breaks them. The sizes
 * are computed here and handed to Imagick as exact numbers, instead of a geometry string, so that
 * no Imagick version can round differently.
 */
final class Geometry
{
    /**
     * Source size (after EXIF orientation) + box -> the size to resample to and, for cover, the
     * centre crop to take from it.
     *
     * @return array{width: int, height: int, crop: ?array{left: int, top: int, width: int, height: int}}
     */
    public static function plan(int $w0, int $h0, ?int $boxWidth, ?int $boxHeight, string $fit): array
    {
        $sw = $boxWidth === null ? INF : $boxWidth / $w0;
        $sh = $boxHeight === null ? INF : $boxHeight / $h0;

        if ($fit === 'cover') {
            if ($boxWidth === null || $boxHeight === null) {
                throw new \InvalidArgumentException('cover needs both sides');
            }
            // May enlarge: the box must be covered.
            $s = max($sw, $sh);
            $width = max($boxWidth, self::roundHalfUp($w0 * $s));
            $height = max($boxHeight, self::roundHalfUp($h0 * $s));
            return [
                'width' => $width,
                'height' => $height,
                'crop' => [
                    'left' => intdiv($width - $boxWidth, 2),
                    'top' => intdiv($height - $boxHeight, 2),
                    'width' => $boxWidth,
                    'height' => $boxHeight,
                ],
            ];
        }

        // inside: never enlarge. The side whose ratio won is exactly the box side.
        $s = min($sw, $sh, 1.0);
        $width = ($boxWidth !== null && $s === $sw) ? $boxWidth : max(1, self::roundHalfUp($w0 * $s));
        $height = ($boxHeight !== null && $s === $sh) ? $boxHeight : max(1, self::roundHalfUp($h0 * $s));
        return ['width' => $width, 'height' => $height, 'crop' => null];
    }

    /** ImageMagick rounds half up: floor(x + 0.5). */
    private static function roundHalfUp(float $x): int
    {
        return (int) floor($x + 0.5);
    }
}
