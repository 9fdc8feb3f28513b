<?php

declare(strict_types=1);

namespace OCP\Lock;

/** Test double of Nextcloud's public API (OCP\Lock\ILockingProvider, the signatures of server's lib/public/Lock). */
interface ILockingProvider {
	public const LOCK_SHARED = 1;
	public const LOCK_EXCLUSIVE = 2;

	public function isLocked(string $path, int $type): bool;

	/** @throws LockedException */
	public function acquireLock(string $path, int $type, ?string $readablePath = null): void;

	public function releaseLock(string $path, int $type): void;

	/** @throws LockedException */
	public function changeLock(string $path, int $targetType): void;

	public function releaseAll(): void;
}
