<?php

declare(strict_types=1);

namespace Legacy;

/**
 * Imagick: an original on disk + a ResizeRequest -> encoded image bytes. The order of the steps
 * is the contract's: EXIF orientation, sRGB, Lanczos resample to the exact planned size, centre
 * crop for cover, alpha onto white for JPEG, no metadata in the output.
 */
final class Imaging
{
    /** ImageMagick's exception codes for resource limits (ResourceLimitWarning, ResourceLimitError). */
    private const RESOURCE_LIMIT_CODES = [300, 400];

    /**
     * The longest side of the scaled image a cover crop is cut from: ImageMagick's policy limit
     * (Debian's 16000 a side), past which resizeImage() fails ("width or height exceeds limit")
     * and a request used to get a 500. The new service refuses past the same side
     * (image-service/src/pipeline.ts MAX_SIDE_PIXELS), so both give the same 400.
     */
    private const MAX_SCALED_SIDE = 16000;

    public function __construct(
        /** Refuse originals with more pixels than this, from the header, before decoding. */
        private readonly int $maxPixels,
        /** An sRGB ICC profile to convert embedded profiles to; null: plain colourspace conversion. */
        private readonly ?string $srgbProfile,
        /** The render's CPU-time bound, watched on every Imagick object of a render. */
        private readonly ?RenderClock $clock = null,
    ) {
    }

    /** @return array{body: string, contentType: string, width: int, height: int} */
    public function render(string $path, string $source, ResizeRequest $request): array
    {
        $this->checkHeader($path);
        if ($source === 'jpeg' && !JpegIntegrity::isComplete(file_get_contents($path) ?: '')) {
            throw new HttpError('unsupported_image', 'unsupported image: the original JPEG is truncated (it ends before its end-of-image marker)');
        }
        $output = $request->format ?? Formats::defaultOutput($source);

        $im = new \Imagick();
        try {
            try {
                // The coder is named, so ImageMagick cannot pick another one from the content;
                // '[0]' decodes only the first frame of an animation.
                $im->readImage("$source:$path" . '[0]');
            } catch (\ImagickException $e) {
                throw $this->decodeError($e);
            }
            // On the image just read: a monitor set on an empty Imagick is never called.
            $this->clock?->watch($im);
            // A header libjpeg reads but data it cannot (a Huffman table it cannot build) comes back
            // from ImageMagick as a 0x0 image, not an exception: undecodable, the original's fault.
            if ($im->getImageWidth() === 0 || $im->getImageHeight() === 0) {
                throw new HttpError('unsupported_image', 'unsupported image: the original could not be decoded as a ' . Formats::SUPPORTED_TEXT . ' image');
            }
            if ($source === 'gif') {
                // A first frame smaller than the GIF's canvas is placed on it, as browsers show it.
                // This canvas is the logical screen, which is why checkHeader() limits the screen
                // (what getimagesize reads): it is what this step allocates. The new service sizes
                // GIFs the same way (image-service/src/gif-screen.ts, with the measurements).
                $im = $im->coalesceImages();
                $this->clock?->watch($im);
            }
            $this->orient($im);
            $this->toSrgb($im);

            $plan = Geometry::plan($im->getImageWidth(), $im->getImageHeight(), $request->width, $request->height, $request->fit);
            if ($plan['width'] > self::MAX_SCALED_SIDE || $plan['height'] > self::MAX_SCALED_SIDE) {
                throw new HttpError('invalid_parameter', sprintf(
                    'invalid parameter fit: cover of this %dx%d original into %dx%d would scale it to %dx%d; expected a box that scales each side to at most %d pixels',
                    $im->getImageWidth(),
                    $im->getImageHeight(),
                    $request->width ?? 0,
                    $request->height ?? 0,
                    $plan['width'],
                    $plan['height'],
                    self::MAX_SCALED_SIDE,
                ));
            }
            if ($plan['width'] !== $im->getImageWidth() || $plan['height'] !== $im->getImageHeight()) {
                $im->resizeImage($plan['width'], $plan['height'], \Imagick::FILTER_LANCZOS, 1);
            }
            if ($plan['crop'] !== null) {
                $c = $plan['crop'];
                $im->cropImage($c['width'], $c['height'], $c['left'], $c['top']);
                $im->setImagePage(0, 0, 0, 0);
            }
            $this->encode($im, $output, $request->quality);
            return [
                'body' => $im->getImageBlob(),
                'contentType' => Formats::CONTENT_TYPES[$output],
                'width' => $im->getImageWidth(),
                'height' => $im->getImageHeight(),
            ];
        } catch (\ImagickException $e) {
            throw in_array($e->getCode(), self::RESOURCE_LIMIT_CODES, true)
                ? new HttpError('image_too_large', 'image too large: the original exceeds the resource limits of this server', $e)
                : $e;
        } finally {
            $im->clear();
        }
    }

    /**
     * Refuses an original on its header, before a pixel is decoded: over the contract's pixel
     * limit, or over the caps of ImageMagick's own policy (Debian's: 16K px a side, 128 MP),
     * which would otherwise fail inside Imagick as an anonymous "Failed to read the file".
     */
    private function checkHeader(string $path): void
    {
        $size = @getimagesize($path);
        if ($size === false || $size[0] <= 0 || $size[1] <= 0) {
            throw new HttpError('unsupported_image', 'unsupported image: the original has no readable ' . Formats::SUPPORTED_TEXT . ' header');
        }
        [$width, $height] = $size;
        $pixels = $width * $height;
        if ($pixels > $this->maxPixels) {
            throw new HttpError('image_too_large', sprintf(
                'image too large: the original is %dx%d (%.1f megapixels); at most %s megapixels are accepted',
                $width,
                $height,
                $pixels / 1e6,
                rtrim(rtrim(number_format($this->maxPixels / 1e6, 2, '.', ''), '0'), '.'),
            ));
        }
        $maxSide = (int) min(\Imagick::getResourceLimit(\Imagick::RESOURCETYPE_WIDTH), \Imagick::getResourceLimit(\Imagick::RESOURCETYPE_HEIGHT));
        $maxArea = (int) \Imagick::getResourceLimit(\Imagick::RESOURCETYPE_AREA);
        if ($width > $maxSide || $height > $maxSide || $pixels > $maxArea) {
            throw new HttpError('image_too_large', sprintf(
                'image too large: the original is %dx%d; this server decodes at most %d pixels a side and %d megapixels',
                $width,
                $height,
                $maxSide,
                intdiv($maxArea, 1000000),
            ));
        }
    }

    private function decodeError(\ImagickException $e): HttpError
    {
        if (in_array($e->getCode(), self::RESOURCE_LIMIT_CODES, true)) {
            return new HttpError('image_too_large', 'image too large: the original exceeds the resource limits of this server', $e);
        }
        return new HttpError('unsupported_image', 'unsupported image: the original could not be decoded as a ' . Formats::SUPPORTED_TEXT . ' image', $e);
    }

    /**
     * Applies the EXIF orientation. ImageMagick keeps the old page geometry after rotating, so a
     * later crop or flatten of an orientation 5-8 image would come out the wrong shape: reset it.
     */
    private function orient(\Imagick $im): void
    {
        $im->autoOrient();
        $im->setImageOrientation(\Imagick::ORIENTATION_TOPLEFT);
        $im->setImagePage(0, 0, 0, 0);
    }

    /** Output is sRGB: through the embedded ICC profile when there is one, else by formula. */
    private function toSrgb(\Imagick $im): void
    {
        $hasProfile = in_array('icc', $im->getImageProfiles('icc', false), true);
        if ($hasProfile && $this->srgbProfile !== null) {
            try {
                $im->profileImage('icc', $this->srgbProfile);
                $im->setImageColorspace(\Imagick::COLORSPACE_SRGB);
                return;
            } catch (\ImagickException) {
                // A broken or mismatched embedded profile: fall back to the formula, as browsers do.
            }
        }
        if ($im->getImageColorspace() !== \Imagick::COLORSPACE_SRGB) {
            $im->transformImageColorspace(\Imagick::COLORSPACE_SRGB);
        }
    }

    private function encode(\Imagick $im, string $format, int $quality): void
    {
        $hasAlpha = $im->getImageAlphaChannel();
        if ($format === 'jpeg' && $hasAlpha) {
            // JPEG has no alpha: what was transparent lands on white, not on black.
            $im->setImageBackgroundColor('white');
            $im->setImageAlphaChannel(\Imagick::ALPHACHANNEL_REMOVE);
            $hasAlpha = false;
        }
        // No EXIF, XMP, IPTC, ICC, comments or PNG text chunks in the output.
        $im->stripImage();
        $im->setImageDepth(8);
        switch ($format) {
            case 'jpeg':
                $im->setImageFormat('jpeg');
                $im->setImageCompressionQuality($quality);
                // 4:2:0 at every quality (ImageMagick would switch to 4:4:4 from q=90), as sharp does.
                $im->setSamplingFactors(['2x2', '1x1', '1x1']);
                // Three channels even for a grey picture, like the new service: the writer looks
                // at the wand's type, not only the image's, before it falls back to greyscale.
                $im->setImageType(\Imagick::IMGTYPE_TRUECOLOR);
                $im->setType(\Imagick::IMGTYPE_TRUECOLOR);
                break;
            case 'webp':
                $im->setImageFormat('webp');
                $im->setImageCompressionQuality($quality);
                break;
            case 'png':
                $im->setImageFormat('png');
                // RGB or RGBA, 8 bits, like the new service: no palette or grey reduction.
                $im->setOption('png:color-type', $hasAlpha ? '6' : '2');
                $im->setOption('png:bit-depth', '8');
                $im->setImageCompressionQuality(65); // zlib level 6, adaptive filtering
                break;
        }
    }
}
