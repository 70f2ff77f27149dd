<?php

declare(strict_types=1);

namespace Legacy;

/** POST /image/files (multipart/form-data: field `file`, optional field `key`) -> 201 {"key": "..."}. */
final class UploadEndpoint
{
    private const EXTENSIONS = ['jpeg' => 'jpg', 'png' => 'png', 'gif' => 'gif', 'webp' => 'webp'];

    public function __construct(
        private readonly Storage $storage,
        private readonly int $maxInputBytes,
        private readonly int $maxInputPixels,
    ) {
    }

    /**
     * @param array<string, mixed> $files $_FILES
     * @param array<string, mixed> $fields $_POST
     */
    public function handle(array $files, array $fields, int $contentLength, int $postMaxBytes): Response
    {
        // PHP drops the whole body, silently, when it is over post_max_size.
        if ($contentLength > $postMaxBytes) {
            throw $this->tooLarge($contentLength);
        }
        $upload = $files['file'] ?? null;
        if (!is_array($upload) || !is_int($upload['error'] ?? null)) {
            throw new HttpError('invalid_parameter', "invalid parameter file: expected a multipart/form-data body with the image in a field named 'file'");
        }
        switch ($upload['error']) {
            case UPLOAD_ERR_OK:
                break;
            case UPLOAD_ERR_INI_SIZE:
            case UPLOAD_ERR_FORM_SIZE:
                throw $this->tooLarge($contentLength);
            case UPLOAD_ERR_NO_FILE:
                throw new HttpError('invalid_parameter', "invalid parameter file: expected an image in the field 'file', got no file");
            case UPLOAD_ERR_PARTIAL:
                throw new HttpError('invalid_parameter', 'invalid parameter file: the upload was cut short; expected the whole image');
            default:
                throw new \RuntimeException("upload failed with PHP upload error {$upload['error']}");
        }
        $tmp = (string) $upload['tmp_name'];
        $size = (int) $upload['size'];
        if ($size > $this->maxInputBytes) {
            throw $this->tooLarge($size);
        }

        $head = (string) @file_get_contents($tmp, false, null, 0, 16);
        $format = Formats::sniff($head);
        if ($format === null) {
            throw new HttpError('unsupported_image', 'unsupported image: expected a ' . Formats::SUPPORTED_TEXT . ' image');
        }
        // The header must read, and be within the limits the hot endpoint will apply.
        $dimensions = @getimagesize($tmp);
        if ($dimensions === false || $dimensions[0] <= 0 || $dimensions[1] <= 0) {
            throw new HttpError('unsupported_image', "unsupported image: the file starts like a $format image but its header cannot be read");
        }
        if ($dimensions[0] * $dimensions[1] > $this->maxInputPixels) {
            throw new HttpError('image_too_large', sprintf(
                'image too large: the image is %dx%d; at most %d megapixels are accepted',
                $dimensions[0],
                $dimensions[1],
                intdiv($this->maxInputPixels, 1000000),
            ));
        }

        $key = $fields['key'] ?? null;
        if ($key === null || $key === '') {
            $key = bin2hex(random_bytes(16)) . '.' . self::EXTENSIONS[$format];
        } elseif (!is_string($key)) {
            throw new HttpError('invalid_key', 'invalid key: expected one text field named key');
        }
        Params::validateKey($key);
        $this->storage->putFromUpload($key, $tmp);
        return Response::json(201, ['key' => $key], ['Location' => '/image/files/' . $key]);
    }

    private function tooLarge(int $bytes): HttpError
    {
        return new HttpError('image_too_large', sprintf(
            'image too large: the upload is %.1f MiB; at most %d MiB are accepted',
            $bytes / 1048576,
            intdiv($this->maxInputBytes, 1048576),
        ));
    }
}
