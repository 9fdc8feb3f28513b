<?php

declare(strict_types=1);

namespace OCP\Files;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface Node extends FileInfo {
	/**
	 * @param string $targetPath the absolute target path ("/alice/files/a.ipynb")
	 * @return Node
	 * @throws NotPermittedException
	 */
	public function copy($targetPath);
}
