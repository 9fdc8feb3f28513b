<?php

declare(strict_types=1);

namespace OCA\NextPyter\Config;

/** A resource profile a user's server runs with: CPU cores, memory limit, GPUs. */
final class Profile {
	public function __construct(
		public readonly string $name,
		public readonly float $cpu,
		public readonly string $memory,
		public readonly int $gpu,
	) {
	}

	/** @return array{name: string, cpu: float, memory: string, gpu: int} */
	public function toArray(): array {
		return ['name' => $this->name, 'cpu' => $this->cpu, 'memory' => $this->memory, 'gpu' => $this->gpu];
	}
}
