<?php

declare(strict_types=1);

namespace Legacy;

/**
 * DELETE /image/files with {"files": [...]} (1..100 keys): 200 when every key was deleted, 207
 * when at least one failed. A key with no original counts as deleted; an invalid key fails.
 */
final class DeleteEndpoint
{
    public const MAX_KEYS = 100;

    public function __construct(private readonly Storage $storage)
    {
    }

    public function handle(string $body): Response
    {
        $expected = 'expected a JSON body {"files": [...]} with 1 to ' . self::MAX_KEYS . ' keys';
        try {
            $data = json_decode($body, true, 16, JSON_THROW_ON_ERROR);
        } catch (\JsonException) {
            throw new HttpError('invalid_parameter', "invalid parameter files: $expected; the body is not JSON");
        }
        $files = is_array($data) ? ($data['files'] ?? null) : null;
        if (!is_array($files) || !array_is_list($files)) {
            throw new HttpError('invalid_parameter', "invalid parameter files: $expected");
        }
        $count = count($files);
        if ($count < 1 || $count > self::MAX_KEYS) {
            throw new HttpError('invalid_parameter', "invalid parameter files: $expected, got $count");
        }
        foreach ($files as $file) {
            if (!is_string($file)) {
                throw new HttpError('invalid_parameter', "invalid parameter files: $expected; every key must be a string");
            }
        }

        $succeeded = [];
        $failed = [];
        foreach ($files as $key) {
            try {
                Params::validateKey($key);
                $ok = $this->storage->delete($key);
            } catch (HttpError) {
                $ok = false;
            }
            if ($ok) {
                $succeeded[] = $key;
            } else {
                $failed[] = $key;
            }
        }
        return Response::json($failed === [] ? 200 : 207, [
            'succeeded_count' => count($succeeded),
            'succeeded_files' => $succeeded,
            'failed_count' => count($failed),
            'failed_files' => $failed,
        ]);
    }
}
