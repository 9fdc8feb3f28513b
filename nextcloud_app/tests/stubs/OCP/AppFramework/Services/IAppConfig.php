<?php

declare(strict_types=1);

namespace OCP\AppFramework\Services;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IAppConfig {
	public function hasAppKey(string $key, ?bool $lazy = false): bool;

	public function setAppValueString(string $key, string $value, bool $lazy = false, bool $sensitive = false): bool;

	public function getAppValueString(string $key, string $default = '', bool $lazy = false): string;

	public function deleteAppValue(string $key): void;
}
