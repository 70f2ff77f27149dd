<?php

declare(strict_types=1);

namespace Legacy;

/**
 * The environment (set in the PHP-FPM pool) -> typed settings, checked once per request; every
 * problem is reported at once, naming the variable and what was expected.
 */
final class Config
{
    /** Where Debian and friends keep an sRGB profile (ghostscript's comes with php-imagick's recommends). */
    private const SYSTEM_SRGB_PROFILES = [
        '/usr/share/color/icc/ghostscript/srgb.icc',
        '/usr/share/color/icc/colord/sRGB.icc',
        '/usr/share/color/icc/sRGB.icc',
    ];

    public function __construct(
        /** LEGACY_STORAGE_DIR: the originals, one file per key (required). */
        public readonly string $storageDir,
        /** LEGACY_MAX_INPUT_BYTES: originals above this size are refused before reading. Default 50 MiB. */
        public readonly int $maxInputBytes,
        /** LEGACY_MAX_INPUT_PIXELS: originals above this many pixels are refused from the header. Default 50 000 000. */
        public readonly int $maxInputPixels,
        /** LEGACY_SRGB_PROFILE: the sRGB ICC profile to convert to. Default: the system's, if any. */
        public readonly ?string $srgbProfilePath,
        /** LEGACY_RENDER_TIMEOUT_MS: CPU time one render may take before it is stopped with 504 (RenderClock). Default 30 000. */
        public readonly int $renderTimeoutMs = 30_000,
    ) {
    }

    /** @param array<string, string|false> $env */
    public static function fromEnvironment(array $env): self
    {
        $problems = [];
        $storage = (string) ($env['LEGACY_STORAGE_DIR'] ?? '');
        if ($storage === '' || $storage[0] !== '/') {
            $problems[] = 'LEGACY_STORAGE_DIR: expected an absolute directory path';
        }
        $int = static function (string $name, int $default) use ($env, &$problems): int {
            $raw = (string) ($env[$name] ?? '');
            if ($raw === '') {
                return $default;
            }
            if (preg_match('/^[1-9][0-9]{0,14}$/D', $raw) !== 1) {
                $problems[] = "$name: expected a positive integer, got " . json_encode($raw);
                return $default;
            }
            return (int) $raw;
        };
        $maxBytes = $int('LEGACY_MAX_INPUT_BYTES', 50 * 1024 * 1024);
        $maxPixels = $int('LEGACY_MAX_INPUT_PIXELS', 50_000_000);
        $renderTimeoutMs = $int('LEGACY_RENDER_TIMEOUT_MS', 30_000);
        $profile = (string) ($env['LEGACY_SRGB_PROFILE'] ?? '');
        if ($profile !== '' && !is_readable($profile)) {
            $problems[] = "LEGACY_SRGB_PROFILE: expected a readable ICC file, got " . json_encode($profile);
        }
        if ($profile === '') {
            $profile = current(array_filter(self::SYSTEM_SRGB_PROFILES, 'is_readable')) ?: '';
        }
        if ($problems !== []) {
            throw new \RuntimeException("invalid configuration:\n  - " . implode("\n  - ", $problems));
        }
        return new self(rtrim($storage, '/'), $maxBytes, $maxPixels, $profile === '' ? null : $profile, $renderTimeoutMs);
    }

    public function srgbProfile(): ?string
    {
        if ($this->srgbProfilePath === null) {
            return null;
        }
        $bytes = @file_get_contents($this->srgbProfilePath);
        return $bytes === false ? null : $bytes;
    }
}
