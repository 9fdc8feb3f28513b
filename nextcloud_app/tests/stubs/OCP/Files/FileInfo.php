<?php

declare(strict_types=1);

namespace OCP\Files;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface FileInfo {
	public const TYPE_FILE = 'file';
	public const TYPE_FOLDER = 'dir';
	public const SPACE_NOT_COMPUTED = -1;
	public const SPACE_UNKNOWN = -2;
	public const SPACE_UNLIMITED = -3;

	public function getEtag();

	public function getSize($includeMounts = true);

	public function getMtime();

	public function getName();

	public function getInternalPath();

	public function getPath();

	public function getStorage();

	public function getId();

	public function isEncrypted();

	public function getType();

	public function getMountPoint();

	public function getMimetype();

	public function isReadable();
}
