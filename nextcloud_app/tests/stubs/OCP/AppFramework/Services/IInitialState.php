<?php

declare(strict_types=1);

namespace OCP\AppFramework\Services;

use Closure;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IInitialState {
	public function provideInitialState(string $key, $data): void;

	public function provideLazyInitialState(string $key, Closure $closure): void;
}
