<?php

declare(strict_types=1);

/*
 * No Composer on purpose: the legacy stand-in runs on nothing but Debian's php-fpm and
 * php-imagick. Classes live one per file in this directory, named after the class.
 */
spl_autoload_register(static function (string $class): void {
    $prefix = 'Legacy\\';
    if (!str_starts_with($class, $prefix)) {
        return;
    }
    $file = __DIR__ . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});
