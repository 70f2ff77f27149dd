<?php

/*
 * Front controller: nginx sends every request here (SCRIPT_FILENAME). It reads the settings the
 * PHP-FPM pool put in the environment, lets App answer, and makes sure that nothing but JSON
 * ever leaves: PHP warnings become exceptions, and a fatal error (memory exhausted, a crash in
 * a library) still ends as {"error": "internal"} rather than an empty page or a stack trace.
 */

declare(strict_types=1);

require __DIR__ . '/../src/autoload.php';

use Legacy\App;
use Legacy\Config;
use Legacy\HttpError;
use Legacy\Response;

set_error_handler(static function (int $severity, string $message, string $file, int $line): bool {
    if ((error_reporting() & $severity) === 0) {
        return false; // silenced with @: the caller checks the result
    }
    throw new ErrorException($message, 0, $severity, $file, $line);
});

register_shutdown_function(static function (): void {
    $error = error_get_last();
    if ($error === null || !in_array($error['type'], [E_ERROR, E_CORE_ERROR, E_COMPILE_ERROR, E_PARSE, E_USER_ERROR], true)) {
        return;
    }
    error_log("legacy: fatal: {$error['message']} at {$error['file']}:{$error['line']}");
    if (!headers_sent()) {
        while (ob_get_level() > 0) {
            ob_end_clean();
        }
        header_remove();
        Response::error(new HttpError('internal', 'internal server error'))->send(false);
    }
});

$method = (string) ($_SERVER['REQUEST_METHOD'] ?? 'GET');
try {
    $config = Config::fromEnvironment(getenv());
    $response = (new App($config))->handle($_SERVER, $_FILES, $_POST, static fn (): string => (string) file_get_contents('php://input'));
} catch (Throwable $e) {
    error_log('legacy: ' . $e->getMessage());
    $response = Response::error(HttpError::from($e));
}
$response->send($method === 'HEAD');
