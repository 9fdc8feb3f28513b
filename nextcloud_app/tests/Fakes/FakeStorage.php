<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\Files\Cache\IPropagator;
use OCP\Files\Cache\IScanner;
use OCP\Files\Storage\IStorage;

/**
 * A storage with a scanner and a propagator that record their calls. What a scan
 * "finds" is simulated by $onScan, which may change the fake tree.
 */
final class FakeStorage implements IStorage, IScanner, IPropagator {
	/** @var list<array{path: string, recursive: bool|int, reuse: int}> */
	public array $scans = [];
	/** @var list<array{path: string, time: int}> */
	public array $propagations = [];
	public ?\Closure $onScan = null;

	public function __construct(
		public string $id = 'home::alice',
		public bool $local = true,
	) {
	}

	public function isLocal() {
		return $this->local;
	}

	public function instanceOfStorage($class) {
		return false;
	}

	public function getPropagator() {
		return $this;
	}

	public function getScanner() {
		return $this;
	}

	public function scan($path, $recursive = self::SCAN_RECURSIVE, $reuse = -1, $lock = true) {
		$this->scans[] = ['path' => $path, 'recursive' => $recursive, 'reuse' => $reuse];
		if ($this->onScan !== null) {
			($this->onScan)($path);
		}
		return [];
	}

	public function propagateChange($internalPath, $time, $sizeDifference = 0) {
		$this->propagations[] = ['path' => $internalPath, 'time' => $time];
	}
}
