<?php

declare(strict_types=1);

namespace OCP\Lock;

/** Test double of Nextcloud's public API: a lock that could not be acquired. */
class LockedException extends \Exception {
	public function __construct(string $path, ?\Exception $previous = null, ?string $existingLock = null, ?string $readablePath = null) {
		parent::__construct('"' . ($readablePath ?? $path) . '" is locked' . ($existingLock !== null ? ', existing lock on file: ' . $existingLock : ''), 0, $previous);
	}
}
