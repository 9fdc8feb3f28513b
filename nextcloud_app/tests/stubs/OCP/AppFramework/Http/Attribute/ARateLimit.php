<?php

declare(strict_types=1);

namespace OCP\AppFramework\Http\Attribute;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
abstract class ARateLimit {
	public function __construct(
		protected int $limit,
		protected int $period,
	) {
	}

	public function getLimit(): int {
		return $this->limit;
	}

	public function getPeriod(): int {
		return $this->period;
	}
}
