<?php

declare(strict_types=1);

namespace Legacy;

/**
 * The CPU-time bound of one render (LEGACY_RENDER_TIMEOUT_MS). A pathological original must not
 * hold a PHP-FPM child, one of only a few, for as long as ImageMagick cares to work on it.
 *
 * Two mechanisms, because ImageMagick's own one cannot answer:
 * - Imagick's progress monitor, called while an operation runs, stops it once the process has
 *   spent the bound in CPU time since start(); the operation then fails and the request gets a
 *   504 that says so (error()).
 * - ImageMagick's time resource limit (RESOURCETYPE_TIME), as a backstop for work the monitor
 *   does not see. In ImageMagick 6 exceeding it is fatal: the process exits and nginx answers 502
 *   for this request. Setting it restarts its clock (whole wall-clock seconds), so start() sets it
 *   on every render, with room past the bound for a render that waits for a core.
 */
final class RenderClock
{
    private float $startedAt = 0.0;
    private bool $expired = false;

    public function __construct(private readonly int $limitMs)
    {
    }

    public function start(): void
    {
        $this->startedAt = self::cpuSeconds();
        $this->expired = false;
        \Imagick::setResourceLimit(\Imagick::RESOURCETYPE_TIME, 2 * intdiv($this->limitMs + 999, 1000) + 1);
    }

    /** Lets the bound stop any operation on $im. */
    public function watch(\Imagick $im): void
    {
        $limit = $this->limitMs / 1000;
        $im->setProgressMonitor(function () use ($limit): bool {
            if (self::cpuSeconds() - $this->startedAt <= $limit) {
                return true;
            }
            $this->expired = true;
            return false; // ImageMagick stops the operation, which fails with an ImagickException
        });
    }

    public function expired(): bool
    {
        return $this->expired;
    }

    public function error(?\Throwable $cause = null): HttpError
    {
        return new HttpError('timeout', "timeout: rendering took longer than the render bound ({$this->limitMs} ms of processing); try a smaller size or a smaller original", $cause);
    }

    /** CPU time of this process (user + system): one ImageMagick thread per child (MAGICK_THREAD_LIMIT=1). */
    private static function cpuSeconds(): float
    {
        $r = getrusage();
        return $r['ru_utime.tv_sec'] + $r['ru_utime.tv_usec'] / 1e6 + $r['ru_stime.tv_sec'] + $r['ru_stime.tv_usec'] / 1e6;
    }
}
