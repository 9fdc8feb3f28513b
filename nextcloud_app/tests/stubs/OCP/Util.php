<?php

declare(strict_types=1);

namespace OCP;

/** Test double of OCP\Util: records the scripts added, so tests can assert them. */
class Util {
	/** @var list<array{string, string}> */
	public static array $scripts = [];
	/** @var list<array{string, string}> */
	public static array $initScripts = [];

	public static function addScript(string $application, ?string $file = null, string $afterAppId = 'core', bool $prepend = false): void {
		self::$scripts[] = [$application, (string)$file];
	}

	public static function addInitScript(string $application, string $file): void {
		self::$initScripts[] = [$application, $file];
	}
}
