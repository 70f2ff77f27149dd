<?php

declare(strict_types=1);

namespace Legacy;

/** A validated resize request. A null width or height means that side is unbounded. */
final class ResizeRequest
{
    public function __construct(
        public readonly ?int $width,
        public readonly ?int $height,
        /** 'inside' (default) or 'cover' */
        public readonly string $fit = 'inside',
        /** Encoder quality for jpeg and webp; default 85. */
        public readonly int $quality = Params::DEFAULT_QUALITY,
        /** 'jpeg', 'png', 'webp', or null for the source's format (gif sources become png). */
        public readonly ?string $format = null,
    ) {
    }

    /**
     * A canonical string: requests that mean the same thing (parameter order, defaults spelt
     * out or not) get the same string, and so the same ETag.
     */
    public function canonical(): string
    {
        return sprintf('w=%s&h=%s&fit=%s&q=%d&format=%s', $this->width ?? '', $this->height ?? '', $this->fit, $this->quality, $this->format ?? '');
    }
}
