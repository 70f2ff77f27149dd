<?php

declare(strict_types=1);

namespace Legacy;

/** GET and HEAD /image/files/{key}: the hot endpoint of section 1 of the contract. */
final class ImageEndpoint
{
    private const CACHE_CONTROL = 'public, max-age=31536000';

    public function __construct(
        private readonly Storage $storage,
        private readonly Imaging $imaging,
        private readonly int $maxInputBytes,
        private readonly ?RenderClock $clock = null,
    ) {
    }

    public function handle(string $rawKey, string $rawQuery, ?string $ifNoneMatch): Response
    {
        $key = Params::parseKey($rawKey);
        $request = Params::parseImageRequest(Params::queryPairs($rawQuery));

        $original = $this->storage->stat($key);
        // Refused on its stored size, before a byte of it is read.
        if ($original['size'] > $this->maxInputBytes) {
            throw new HttpError('image_too_large', sprintf(
                'image too large: the original is %.1f MiB; at most %d MiB are accepted',
                $original['size'] / 1048576,
                intdiv($this->maxInputBytes, 1048576),
            ));
        }
        $etag = Conditional::etag($original['version'], $request === null ? 'original' : $request->canonical());
        $validators = [
            'Cache-Control' => self::CACHE_CONTROL,
            'ETag' => $etag,
            'Last-Modified' => Conditional::httpDate($original['mtime']),
        ];
        // Revalidation needs only the original's version, not a resize.
        if (Conditional::ifNoneMatchMatches($ifNoneMatch, $etag)) {
            return new Response(304, $validators);
        }

        $head = $this->storage->head($original['path']);
        if ($request === null) {
            // A plain download: the original bytes, unchanged.
            return new Response(200, [
                'Content-Type' => Formats::contentTypeOf($head),
                'Content-Length' => (string) $original['size'],
            ] + $validators, null, $original['path']);
        }

        $source = Formats::sniff($head);
        if ($source === null) {
            throw new HttpError('unsupported_image', 'unsupported image: the original is not a ' . Formats::SUPPORTED_TEXT . ' image');
        }
        $this->clock?->start();
        try {
            $image = $this->imaging->render($original['path'], $source, $request);
        } catch (\Throwable $e) {
            // Whatever ImageMagick made of the stopped operation, it was the render bound.
            throw $this->clock?->expired() ? $this->clock->error($e) : $e;
        }
        return new Response(200, [
            'Content-Type' => $image['contentType'],
            'Content-Length' => (string) strlen($image['body']),
        ] + $validators, $image['body']);
    }
}
