<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use Closure;
use OCP\AppFramework\Services\IInitialState;

final class RecordingInitialState implements IInitialState {
	/** @var array<string, mixed> */
	public array $states = [];

	public function provideInitialState(string $key, $data): void {
		$this->states[$key] = $data;
	}

	public function provideLazyInitialState(string $key, Closure $closure): void {
		$this->states[$key] = $closure;
	}

	/** The state as the page would get it (lazy ones evaluated, then JSON). */
	public function json(string $key): mixed {
		$value = $this->states[$key] ?? null;
		if ($value instanceof Closure) {
			$value = $value();
		}
		return json_decode(json_encode($value, JSON_THROW_ON_ERROR), true, 512, JSON_THROW_ON_ERROR);
	}
}
