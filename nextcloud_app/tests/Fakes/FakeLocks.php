<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\Lock\ILockingProvider;
use OCP\Lock\LockedException;

/** Nextcloud's locking provider, in memory: non-blocking, as the database and Redis ones are. */
final class FakeLocks implements ILockingProvider {
	/** @var array<string, int> path → LOCK_EXCLUSIVE, or the number of shared locks as a negative count */
	public array $held = [];
	/** @var list<string> "acquire <path>" / "release <path>", in order */
	public array $log = [];

	public function isLocked(string $path, int $type): bool {
		$held = $this->held[$path] ?? 0;
		return $type === self::LOCK_EXCLUSIVE ? $held === self::LOCK_EXCLUSIVE : $held < 0;
	}

	public function acquireLock(string $path, int $type, ?string $readablePath = null): void {
		$held = $this->held[$path] ?? 0;
		if ($held === self::LOCK_EXCLUSIVE || ($type === self::LOCK_EXCLUSIVE && $held !== 0)) {
			throw new LockedException($path, null, null, $readablePath);
		}
		$this->held[$path] = $type === self::LOCK_EXCLUSIVE ? self::LOCK_EXCLUSIVE : $held - 1;
		$this->log[] = "acquire $path";
	}

	public function releaseLock(string $path, int $type): void {
		$held = $this->held[$path] ?? 0;
		if ($type === self::LOCK_EXCLUSIVE && $held === self::LOCK_EXCLUSIVE || $held === -1) {
			unset($this->held[$path]);
		} elseif ($held < -1) {
			$this->held[$path] = $held + 1;
		}
		$this->log[] = "release $path";
	}

	public function changeLock(string $path, int $targetType): void {
		$this->releaseLock($path, $targetType === self::LOCK_EXCLUSIVE ? self::LOCK_SHARED : self::LOCK_EXCLUSIVE);
		$this->acquireLock($path, $targetType);
	}

	public function releaseAll(): void {
		$this->held = [];
	}
}
