<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\AppFramework\Services\IAppConfig;

/** App config in memory, remembering how each value was stored (lazy, sensitive). */
final class InMemoryAppConfig implements IAppConfig {
	/** @var array<string, array{value: string, lazy: bool, sensitive: bool}> */
	public array $values = [];

	public function hasAppKey(string $key, ?bool $lazy = false): bool {
		return isset($this->values[$key]);
	}

	public function setAppValueString(string $key, string $value, bool $lazy = false, bool $sensitive = false): bool {
		$changed = ($this->values[$key]['value'] ?? null) !== $value;
		$this->values[$key] = ['value' => $value, 'lazy' => $lazy, 'sensitive' => $sensitive];
		return $changed;
	}

	public function getAppValueString(string $key, string $default = '', bool $lazy = false): string {
		if (!isset($this->values[$key])) {
			return $default;
		}
		// Nextcloud only returns a lazy value to a caller that asks for lazy values.
		return $this->values[$key]['lazy'] === $lazy ? $this->values[$key]['value'] : $default;
	}

	public function deleteAppValue(string $key): void {
		unset($this->values[$key]);
	}
}
