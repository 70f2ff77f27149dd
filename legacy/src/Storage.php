<?php

declare(strict_types=1);

namespace Legacy;

/**
 * Originals in a local directory, in the same layout as the image service's file:// store:
 * the key is the path below the root. Keys reach this class already validated (no '..', no
 * leading '/', no empty segment); the class still refuses any other, because a store must not
 * trust its callers with its boundary.
 */
final class Storage
{
    private const NAME_MAX = 255;

    public function __construct(private readonly string $root)
    {
    }

    /** Throws storage_unavailable when the root is not a usable directory (health check, start of a request). */
    public function ping(): void
    {
        if (!is_dir($this->root) || !is_readable($this->root)) {
            throw new HttpError('storage_unavailable', 'storage unavailable', new \RuntimeException("not a readable directory: {$this->root}"));
        }
    }

    /**
     * What the store knows about an original without reading it.
     *
     * @return array{path: string, size: int, mtime: int, version: string}
     */
    public function stat(string $key): array
    {
        $path = $this->pathOf($key, reading: true);
        clearstatcache();
        $st = @stat($path);
        if ($st === false || !is_file($path) || $this->hasLink($key)) {
            $this->ping(); // a missing root is the store's fault, not the key's
            throw new HttpError('not_found', 'no original with key ' . json_encode($key, JSON_UNESCAPED_SLASHES));
        }
        if (!is_readable($path)) {
            throw new HttpError('storage_unavailable', 'storage unavailable', new \RuntimeException("unreadable: $path"));
        }
        return [
            'path' => $path,
            'size' => $st['size'],
            'mtime' => $st['mtime'],
            // Changes whenever the bytes do: a replacing upload is a rename, so a new inode.
            'version' => base_convert((string) $st['ino'], 10, 36) . '-' . base_convert((string) $st['size'], 10, 36) . '-' . base_convert((string) $st['mtime'], 10, 36),
        ];
    }

    /** The first bytes of an original, for sniffing its format. */
    public function head(string $path, int $length = 16): string
    {
        $head = @file_get_contents($path, false, null, 0, $length);
        if ($head === false) {
            throw new HttpError('storage_unavailable', 'storage unavailable', new \RuntimeException("cannot read $path"));
        }
        return $head;
    }

    public function read(string $path): string
    {
        $bytes = @file_get_contents($path);
        if ($bytes === false) {
            throw new HttpError('storage_unavailable', 'storage unavailable', new \RuntimeException("cannot read $path"));
        }
        return $bytes;
    }

    /**
     * Stores a file under $key: written to a temporary name in the target directory, then renamed
     * over the key, so readers see the old original or the new one, never a half-written file.
     * Replaces an existing original of the same key.
     */
    public function putFromUpload(string $key, string $uploadedFile): void
    {
        $path = $this->pathOf($key);
        clearstatcache();
        if ($this->hasLink($key)) {
            // Writing through a link would store the original outside the directory, or under another key.
            throw new HttpError('invalid_key', 'invalid key: ' . json_encode($key, JSON_UNESCAPED_SLASHES) . ' passes through a symbolic link in the store');
        }
        $dir = dirname($path);
        if (!is_dir($dir) && !@mkdir($dir, 0755, true) && !is_dir($dir)) {
            throw new HttpError('invalid_key', 'invalid key: a parent of ' . json_encode($key, JSON_UNESCAPED_SLASHES) . ' is an original, not a folder');
        }
        if (is_dir($path)) {
            throw new HttpError('invalid_key', 'invalid key: ' . json_encode($key, JSON_UNESCAPED_SLASHES) . ' is a folder of originals');
        }
        $temp = $dir . '/.upload-' . bin2hex(random_bytes(8)) . '.tmp';
        try {
            if (!@move_uploaded_file($uploadedFile, $temp)) {
                throw new \RuntimeException("cannot move the upload to $temp: " . (error_get_last()['message'] ?? '?'));
            }
            @chmod($temp, 0644);
            if (!@rename($temp, $path)) {
                throw new \RuntimeException("cannot rename $temp to $path: " . (error_get_last()['message'] ?? '?'));
            }
        } catch (\Throwable $e) {
            @unlink($temp);
            throw new HttpError('storage_unavailable', 'storage unavailable: the original could not be stored', $e);
        }
    }

    /** Deletes an original. A key with no original counts as deleted: deletes are idempotent. */
    public function delete(string $key): bool
    {
        $path = $this->pathOf($key);
        if (is_dir($path)) {
            return false;
        }
        if (@unlink($path)) {
            return true;
        }
        clearstatcache(true, $path);
        return !file_exists($path) && is_dir($this->root);
    }

    /**
     * Whether any component of the key's path below the root is a symbolic link. A link is not an
     * original, wherever it points: one pointing out of the directory would serve any file PHP
     * can read, one pointing inside it would serve a key nobody stored. Readers answer 404, as for
     * a missing original, so that a link's existence is not revealed either.
     */
    private function hasLink(string $key): bool
    {
        $path = rtrim($this->root, '/');
        foreach (explode('/', $key) as $segment) {
            $path .= '/' . $segment;
            if (is_link($path)) {
                return true;
            }
            if (!file_exists($path)) {
                return false;
            }
        }
        return false;
    }

    /**
     * @param bool $reading a read of a key with a segment over NAME_MAX is a 404: the contract allows
     *   the key (up to 512 characters, segments unlimited), this store just cannot hold such an
     *   original, as the new service's file store answers (ENAMETOOLONG) and as S3 would. Writing
     *   one is refused as a bad key, because it could never be read back from here.
     */
    private function pathOf(string $key, bool $reading = false): string
    {
        Params::validateKey($key);
        foreach (explode('/', $key) as $segment) {
            if (strlen($segment) <= self::NAME_MAX) {
                continue;
            }
            if ($reading) {
                $this->ping(); // a missing root is the store's fault, not the key's
                throw new HttpError('not_found', 'no original with key ' . json_encode($key, JSON_UNESCAPED_SLASHES));
            }
            throw new HttpError('invalid_key', 'invalid key: too long for the store (at most ' . self::NAME_MAX . ' characters between slashes)');
        }
        return rtrim($this->root, '/') . '/' . $key;
    }
}
