<?php

declare(strict_types=1);

namespace Legacy;

/**
 * The one error type: a stable machine code and HTTP status that clients see, a public message
 * that says what was expected, and a private cause that only reaches the log.
 */
final class HttpError extends \RuntimeException
{
    private const STATUS = [
        'invalid_key' => 400,
        'invalid_parameter' => 400,
        'not_found' => 404,
        'method_not_allowed' => 405,
        'image_too_large' => 413,
        'unsupported_image' => 415,
        'internal' => 500,
        'storage_unavailable' => 502,
        'timeout' => 504,
    ];

    public readonly int $status;

    /** @param array<string, string> $headers extra response headers (Allow on 405) */
    public function __construct(
        public readonly string $errorCode,
        string $message,
        ?\Throwable $cause = null,
        public readonly array $headers = [],
    ) {
        parent::__construct($message, 0, $cause);
        $this->status = self::STATUS[$errorCode] ?? 500;
    }

    /** Anything that is not already an HttpError becomes a generic 500; the detail stays private. */
    public static function from(\Throwable $e): self
    {
        return $e instanceof self ? $e : new self('internal', 'internal server error', $e);
    }
}
