<?php

declare(strict_types=1);

namespace Legacy;

/**
 * Routes one request to its endpoint and turns every failure into the contract's JSON error.
 * The only place that knows the URL layout.
 */
final class App
{
    private const HOT_PREFIX = '/image/files/';

    public function __construct(private readonly Config $config)
    {
    }

    /**
     * @param array<string, mixed> $server $_SERVER: REQUEST_METHOD, REQUEST_URI (raw, as the client
     *   sent it: the key is validated on it, before anybody resolves '..' or '%2e%2e' away)
     * @param array<string, mixed> $files $_FILES
     * @param array<string, mixed> $post $_POST
     */
    public function handle(array $server, array $files, array $post, callable $readBody): Response
    {
        try {
            return $this->route($server, $files, $post, $readBody);
        } catch (\Throwable $e) {
            $error = HttpError::from($e);
            if ($error->status >= 500) {
                error_log(sprintf(
                    'legacy: %s %s -> %d %s: %s',
                    $server['REQUEST_METHOD'] ?? '?',
                    $server['REQUEST_URI'] ?? '?',
                    $error->status,
                    $error->getMessage(),
                    self::describe($error->getPrevious() ?? $error),
                ));
            }
            return Response::error($error);
        }
    }

    private function route(array $server, array $files, array $post, callable $readBody): Response
    {
        $method = (string) ($server['REQUEST_METHOD'] ?? 'GET');
        $target = (string) ($server['REQUEST_URI'] ?? '/');
        $q = strpos($target, '?');
        $path = $q === false ? $target : substr($target, 0, $q);
        $query = $q === false ? '' : substr($target, $q + 1);

        if (str_starts_with($path, self::HOT_PREFIX)) {
            self::allow($method, ['GET', 'HEAD'], self::HOT_PREFIX . '{key}');
            $clock = new RenderClock($this->config->renderTimeoutMs);
            $endpoint = new ImageEndpoint($this->storage(), new Imaging($this->config->maxInputPixels, $this->config->srgbProfile(), $clock), $this->config->maxInputBytes, $clock);
            $ifNoneMatch = isset($server['HTTP_IF_NONE_MATCH']) ? (string) $server['HTTP_IF_NONE_MATCH'] : null;
            return $endpoint->handle(substr($path, strlen(self::HOT_PREFIX)), $query, $ifNoneMatch);
        }
        if ($path === '/image/files') {
            self::allow($method, ['POST', 'DELETE'], '/image/files');
            if ($method === 'POST') {
                $endpoint = new UploadEndpoint($this->storage(), $this->config->maxInputBytes, $this->config->maxInputPixels);
                return $endpoint->handle($files, $post, (int) ($server['CONTENT_LENGTH'] ?? 0), self::iniBytes((string) ini_get('post_max_size')));
            }
            return (new DeleteEndpoint($this->storage()))->handle($readBody());
        }
        if ($path === '/image/health') {
            self::allow($method, ['GET', 'HEAD'], '/image/health');
            $this->storage()->ping();
            return Response::json(200, ['status' => 'ok']);
        }
        throw new HttpError('not_found', "no route for $method " . self::shorten($path));
    }

    private function storage(): Storage
    {
        return new Storage($this->config->storageDir);
    }

    /** @param list<string> $methods */
    private static function allow(string $method, array $methods, string $route): void
    {
        if (!in_array($method, $methods, true)) {
            throw new HttpError('method_not_allowed', 'method not allowed: expected ' . implode(' or ', $methods) . " on $route", null, ['Allow' => implode(', ', $methods)]);
        }
    }

    /** php.ini sizes ('64M') in bytes. */
    private static function iniBytes(string $value): int
    {
        $n = (int) $value;
        return match (strtoupper(substr(trim($value), -1))) {
            'G' => $n << 30,
            'M' => $n << 20,
            'K' => $n << 10,
            default => $n,
        };
    }

    private static function shorten(string $path): string
    {
        return strlen($path) > 200 ? substr($path, 0, 200) . '...' : $path;
    }

    private static function describe(\Throwable $e): string
    {
        return get_class($e) . ': ' . $e->getMessage() . ' at ' . $e->getFile() . ':' . $e->getLine();
    }
}
