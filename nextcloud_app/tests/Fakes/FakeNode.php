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
	public bool $readable = true;
	public ?string $mimetype = null;
	/** Thrown by copy(), to play a storage that refuses (quota, permissions). */
	public ?\Throwable $copyFails = null;
	/** @var ?\Closure(): void runs as the copy starts (another request at that moment) */
	public ?\Closure $duringCopy = null;

	public function __construct(
		public FakeFiles $files,
		public string $path,
		public int $id,
		public IMountPoint $mount,
		public \OCP\Files\Storage\IStorage $storage,
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

	public function getMimetype() {
		if ($this->mimetype !== null) {
			return $this->mimetype;
		}
		return str_ends_with($this->path, '.ipynb') ? 'application/x-ipynb+json' : 'application/octet-stream';
	}

	public function isReadable() {
		return $this->readable;
	}

	/**
	 * Copies into the folder of $targetPath, as Nextcloud's Node::copy (files only here):
	 * like it, over a file already at $targetPath (View::copy overwrites; nothing checks).
	 */
	public function copy($targetPath) {
		if ($this->duringCopy !== null) {
			($this->duringCopy)();
		}
		if ($this->copyFails !== null) {
			throw $this->copyFails;
		}
		$parent = $this->files->nodeAt(dirname((string)$targetPath));
		$name = basename((string)$targetPath);
		if (!$parent instanceof FakeFolder) {
			throw new \OCP\Files\NotPermittedException('No permission to copy to path ' . $targetPath);
		}
		$existing = $parent->children[$name] ?? null;
		if ($existing instanceof FakeFile) {
			$existing->content = $this instanceof FakeFile ? $this->content : '';
			$existing->size = $this->size;
			return $existing;
		}
		$copy = $parent->file($name, $this instanceof FakeFile ? $this->content : '');
		$copy->size = $this->size;
		return $copy;
	}
}
