<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\Files\Folder;
use OCP\Files\NotFoundException;
use OCP\Files\NotPermittedException;

final class FakeFolder extends FakeNode implements Folder {
	/** @var array<string, FakeNode> */
	public array $children = [];
	public bool $creatable = true;
	/** @var int|float */
	public $freeSpace = \OCP\Files\FileInfo::SPACE_UNLIMITED;

	public function getType() {
		return 'dir';
	}

	/** A subfolder; with $storage, another storage mounted there (a share, external storage). */
	public function folder(string $name, ?\OCP\Files\Storage\IStorage $storage = null): FakeFolder {
		$path = $this->path . '/' . $name;
		$mount = $storage === null ? $this->mount : FakeFiles::mount($path . '/');
		return $this->children[$name] = new FakeFolder($this->files, $path, $this->files->nextId(), $mount, $storage ?? $this->storage);
	}

	public function file(string $name, string $content = ''): FakeFile {
		$file = new FakeFile($this->files, $this->path . '/' . $name, $this->files->nextId(), $this->mount, $this->storage);
		$file->content = $content;
		$file->size = strlen($content);
		return $this->children[$name] = $file;
	}

	public function getDirectoryListing() {
		return array_values($this->children);
	}

	public function get($path) {
		$node = $this;
		foreach (array_filter(explode('/', (string)$path), static fn ($p) => $p !== '') as $part) {
			if (!$node instanceof FakeFolder || !isset($node->children[$part])) {
				throw new NotFoundException((string)$path);
			}
			$node = $node->children[$part];
		}
		return $node;
	}

	public function nodeExists($path) {
		try {
			$this->get($path);
			return true;
		} catch (NotFoundException) {
			return false;
		}
	}

	public function newFile($path, $content = null) {
		if (!$this->creatable) {
			throw new NotPermittedException('read-only folder');
		}
		if (isset($this->children[$path])) {
			throw new NotPermittedException('exists');
		}
		return $this->file((string)$path, (string)$content);
	}

	public function getById($id) {
		$found = [];
		foreach ($this->children as $child) {
			if ($child->id === $id) {
				$found[] = $child;
			}
			if ($child instanceof FakeFolder) {
				$found = array_merge($found, $child->getById($id));
			}
		}
		if ($this->id === $id) {
			array_unshift($found, $this);
		}
		return $found;
	}

	public function isCreatable() {
		return $this->creatable;
	}

	public function getFreeSpace() {
		return $this->freeSpace;
	}
}
