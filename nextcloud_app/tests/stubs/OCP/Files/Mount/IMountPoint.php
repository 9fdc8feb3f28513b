<?php

declare(strict_types=1);

namespace OCP\Files\Mount;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IMountPoint {
	public function getMountPoint();
}
