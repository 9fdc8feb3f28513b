<?php

declare(strict_types=1);

namespace OCP\Files\Cache;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IScanner {
	public const SCAN_RECURSIVE_INCOMPLETE = 2;
	public const SCAN_RECURSIVE = true;
	public const SCAN_SHALLOW = false;
	public const REUSE_NONE = 0;
	public const REUSE_ETAG = 1;
	public const REUSE_SIZE = 2;

	public function scan($path, $recursive = self::SCAN_RECURSIVE, $reuse = -1, $lock = true);
}
