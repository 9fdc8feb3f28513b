<?php

declare(strict_types=1);

/*
 * PHPUnit bootstrap: the app's classes (lib/), the test doubles of Nextcloud's
 * public API (stubs/; Nextcloud itself is not available here) and the tests' fakes.
 */

$prefixes = [
	'OCA\\NextPyter\\Tests\\' => __DIR__ . '/',
	'OCA\\NextPyter\\' => dirname(__DIR__) . '/lib/',
	'OCA\\Files\\' => __DIR__ . '/stubs/OCA/Files/',
	'OCA\\Files_Sharing\\' => __DIR__ . '/stubs/OCA/Files_Sharing/',
	'OCA\\Viewer\\' => __DIR__ . '/stubs/OCA/Viewer/',
	'OCP\\' => __DIR__ . '/stubs/OCP/',
	'Psr\\Log\\' => __DIR__ . '/stubs/Psr/Log/',
];

spl_autoload_register(static function (string $class) use ($prefixes): void {
	foreach ($prefixes as $prefix => $dir) {
		if (str_starts_with($class, $prefix)) {
			$file = $dir . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
			if (is_file($file)) {
				require $file;
			}
			return;
		}
	}
});
