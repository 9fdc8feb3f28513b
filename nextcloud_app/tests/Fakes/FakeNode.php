<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\Files\Mount\IMountPoint;
use OCP\Files\Node;

abstract class FakeNode implements Node {
	public string $etag;
	public int $size = 0;
	public int $mtime = 1_700_000_000;
	public bool $encrypted = false;

	public function __construct(
		public FakeFiles $files,
		public string $path,
		public int $id,
		public IMountPoint $mount,
		public FakeStorage $storage,
	) {
		$this->etag = 'etag-' . $id;
	}

	public function getEtag() {
		return $this->etag;
	}

	public function getSize($includeMounts = true) {
		return $this->size;
	}

	public function getMtime() {
		return $this->mtime;
	}

	public function getName() {
		return basename($this->path);
	}

	public function getInternalPath() {
		$root = rtrim((string)$this->mount->getMountPoint(), '/');
		return ltrim(substr($this->path, strlen($root)), '/');
	}

	public function getPath() {
		return $this->path;
	}

	public function getStorage() {
		return $this->storage;
	}

	public function getId() {
		return $this->id;
	}

	public function isEncrypted() {
		return $this->encrypted;
	}

	public function getMountPoint() {
		return $this->mount;
	}
}
