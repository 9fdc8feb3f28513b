<?php

declare(strict_types=1);

namespace OCP;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IURLGenerator {
	public function linkToRouteAbsolute(string $routeName, array $arguments = []): string;

	public function imagePath(string $appName, string $file): string;

	public function getBaseUrl(): string;
}
