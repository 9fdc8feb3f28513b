<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\Files\Cache\IPropagator;
use OCP\Files\Cache\IScanner;
use OCP\Files\Storage\ISharedStorage;
use OCP\Share\IAttributes;
use OCP\Share\IShare;

/**
 * A share received from another user, as Nextcloud mounts it: `$download` false plays a
 * share made "view only" (its attribute permissions.download is false).
 */
final class FakeSharedStorage implements ISharedStorage, IScanner, IPropagator {
	public function __construct(
		public string $id = 'shared::bob',
		public ?bool $download = null,
	) {
	}

	public function isLocal() {
		return true;
	}

	public function instanceOfStorage($class) {
		return $this instanceof $class;
	}

	public function getPropagator() {
		return $this;
	}

	public function getScanner() {
		return $this;
	}

	public function scan($path, $recursive = self::SCAN_RECURSIVE, $reuse = -1, $lock = true) {
		return [];
	}

	public function propagateChange($internalPath, $time, $sizeDifference = 0) {
	}

	public function getShare(): IShare {
		$download = $this->download;
		return new class($download) implements IShare {
			public function __construct(private ?bool $download) {
			}

			public function getAttributes(): ?IAttributes {
				if ($this->download === null) {
					return null;
				}
				return new class($this->download) implements IAttributes {
					public function __construct(private bool $download) {
					}

					public function getAttribute(string $scope, string $key): mixed {
						return $scope === 'permissions' && $key === 'download' ? $this->download : null;
					}
				};
			}
		};
	}
}
