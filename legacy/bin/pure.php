<?php

/*
 * Runs the pure parts of the legacy backend (key and query parsing, geometry) on JSON input, one
 * case per line, and prints one JSON result per line. The parity test feeds the same cases to
 * image-service/src/params.ts and geometry.ts and expects the same answers.
 *
 *   {"fn": "parseKey", "raw": "a%2Fb.jpg"}
 *   {"fn": "parseQuery", "raw": "w=100&fit=cover"}
 *   {"fn": "plan", "w0": 2999, "h0": 2001, "w": 300, "h": null, "fit": "inside"}
 *   {"fn": "jpegComplete", "base64": "/9j/4AAQ..."}
 */

declare(strict_types=1);

require __DIR__ . '/../src/autoload.php';

use Legacy\Geometry;
use Legacy\HttpError;
use Legacy\JpegIntegrity;
use Legacy\Params;

while (($line = fgets(STDIN)) !== false) {
    if (trim($line) === '') {
        continue;
    }
    $case = json_decode($line, true, 8, JSON_THROW_ON_ERROR);
    try {
        $value = match ($case['fn']) {
            'parseKey' => Params::parseKey($case['raw']),
            'parseQuery' => Params::parseImageRequest(Params::queryPairs($case['raw']))?->canonical() ?? 'original',
            'plan' => Geometry::plan($case['w0'], $case['h0'], $case['w'], $case['h'], $case['fit']),
            'jpegComplete' => JpegIntegrity::isComplete(base64_decode($case['base64'], true) ?: ''),
        };
        $out = ['ok' => true, 'value' => $value];
    } catch (HttpError $e) {
        $out = ['ok' => false, 'code' => $e->errorCode, 'message' => $e->getMessage()];
    }
    echo json_encode($out, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE), "\n";
}
