<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\IURLGenerator;

final class FakeUrls implements IURLGenerator {
	public function __construct(
		public string $base = 'https://cloud.example.com',
	) {
	}

	public function linkToRouteAbsolute(string $routeName, array $arguments = []): string {
		$routes = ['nextpyter.jwks.keys' => '/apps/nextpyter/jwks.json'];
		return $this->base . ($routes[strtolower($routeName)] ?? '/unknown-route/' . $routeName);
	}

	public function imagePath(string $appName, string $file): string {
		return "/custom_apps/$appName/img/$file";
	}

	public function getBaseUrl(): string {
		return $this->base;
	}
}
