<?php

declare(strict_types=1);

namespace OCP\Files\Cache;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IPropagator {
	public function propagateChange($internalPath, $time, $sizeDifference = 0);
}
