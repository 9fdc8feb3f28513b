<?php

declare(strict_types=1);

namespace OCP\AppFramework\Utility;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface ITimeFactory {
	public function getTime(): int;
}
