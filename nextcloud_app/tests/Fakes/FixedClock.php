<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\AppFramework\Utility\ITimeFactory;

final class FixedClock implements ITimeFactory {
	public function __construct(
		public int $now = 1_700_000_000,
	) {
	}

	public function getTime(): int {
		return $this->now;
	}
}
