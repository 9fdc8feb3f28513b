<?php

declare(strict_types=1);

namespace OCP\Files;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface Folder extends Node {
	public function getDirectoryListing();

	public function get($path);

	public function nodeExists($path);

	public function newFile($path, $content = null);

	public function getById($id);

	public function isCreatable();

	/** @return int|float bytes free, or FileInfo::SPACE_UNKNOWN / SPACE_UNLIMITED / SPACE_NOT_COMPUTED */
	public function getFreeSpace();
}
