<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\IRequest;

final class FakeRequest implements IRequest {
	/** @param array<string, mixed> $params */
	public function __construct(
		public array $params = [],
	) {
	}

	public function getParam(string $key, $default = null) {
		return $this->params[$key] ?? $default;
	}

	public function getParams(): array {
		// Nextcloud adds the matched route's name; the app must ignore it.
		return $this->params + ['_route' => 'nextpyter.admin.saveSettings'];
	}
}
