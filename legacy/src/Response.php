<?php

declare(strict_types=1);

namespace Legacy;

/** What a handler answers: status, headers, and a body held in memory or streamed from a file. */
final class Response
{
    /** @param array<string, string> $headers */
    public function __construct(
        public readonly int $status,
        public readonly array $headers = [],
        public readonly ?string $body = null,
        public readonly ?string $file = null,
    ) {
    }

    /** @param array<string, mixed> $data */
    public static function json(int $status, array $data, array $headers = []): self
    {
        $body = json_encode($data, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
        return new self($status, ['Content-Type' => 'application/json', 'Content-Length' => (string) strlen($body)] + $headers, $body);
    }

    /** The contract's error shape: {"error": "<code>", "message": "<human readable>"}. */
    public static function error(HttpError $e): self
    {
        return self::json($e->status, ['error' => $e->errorCode, 'message' => $e->getMessage()], $e->headers);
    }

    /** Writes the response. HEAD gets the same headers (Content-Length included) and no body. */
    public function send(bool $head): void
    {
        http_response_code($this->status);
        header_remove('X-Powered-By');
        header('X-Content-Type-Options: nosniff');
        foreach ($this->headers as $name => $value) {
            header("$name: $value");
        }
        if ($head || $this->status === 304) {
            return;
        }
        if ($this->body !== null) {
            echo $this->body;
        } elseif ($this->file !== null) {
            readfile($this->file);
        }
    }
}
