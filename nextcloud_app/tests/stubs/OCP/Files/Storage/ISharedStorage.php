<?php

declare(strict_types=1);

namespace OCP\Files\Storage;

use OCP\Share\IShare;

/** Test double of Nextcloud's public API (since 30): a storage that is a share received. */
interface ISharedStorage extends IStorage {
	public function getShare(): IShare;
}
