<?php

declare(strict_types=1);

namespace OCA\NextPyter\Config;

/**
 * A resource profile a user's server runs with: CPU cores, memory limit, GPUs, and how many
 * processes and threads it may run at once (kernels included).
 */
final class Profile {
	public const DEFAULT_PIDS = 1024;

	public function __construct(
		public readonly string $name,
		public readonly float $cpu,
		public readonly string $memory,
		public readonly int $gpu,
		public readonly int $pids = self::DEFAULT_PIDS,
	) {
	}

	/** @return array{name: string, cpu: float, memory: string, gpu: int, pids: int} */
	public function toArray(): array {
		return ['name' => $this->name, 'cpu' => $this->cpu, 'memory' => $this->memory, 'gpu' => $this->gpu, 'pids' => $this->pids];
	}
}
