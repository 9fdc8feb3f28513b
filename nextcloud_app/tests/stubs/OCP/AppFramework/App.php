<?php

declare(strict_types=1);

namespace OCP\AppFramework;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
class App {
	public function __construct(string $appName, array $urlParams = []) {
	}
}
