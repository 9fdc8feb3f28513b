<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\Files\IRootFolder;
use OCP\Files\Mount\IMountPoint;

/**
 * Nextcloud's file tree in memory: each user's home storage mounted at
 * `/<uid>/`, their files in `/<uid>/files`, and other storages (received shares,
 * external storage) mounted inside it, as Nextcloud does.
 */
final class FakeFiles implements IRootFolder {
	/** @var array<string, FakeFolder> */
	public array $homes = [];
	/** @var array<string, FakeStorage> */
	public array $storages = [];
	private int $nextId = 100;

	public static function mount(string $mountPoint): IMountPoint {
		return new class($mountPoint) implements IMountPoint {
			public function __construct(private string $mountPoint) {
			}

			public function getMountPoint() {
				return $this->mountPoint;
			}
		};
	}

	public function nextId(): int {
		return $this->nextId++;
	}

	/** The files folder of $uid on its home storage (made on first use). */
	public function home(string $uid): FakeFolder {
		if (!isset($this->homes[$uid])) {
			$storage = $this->storages[$uid] = new FakeStorage('home::' . $uid);
			$this->homes[$uid] = new FakeFolder($this, "/$uid/files", $this->nextId(), self::mount("/$uid/"), $storage);
		}
		return $this->homes[$uid];
	}

	/** The node at an absolute path ("/alice/files/Projects"), or null. */
	public function nodeAt(string $path): ?FakeNode {
		foreach ($this->homes as $home) {
			if ($path === $home->path) {
				return $home;
			}
			if (str_starts_with($path, $home->path . '/')) {
				try {
					return $home->get(substr($path, strlen($home->path) + 1));
				} catch (\OCP\Files\NotFoundException) {
					return null;
				}
			}
		}
		return null;
	}

	public function getUserFolder($userId) {
		return $this->home($userId);
	}

	// The root folder's own Folder methods are not used by the app.
	public function getDirectoryListing() {
		return [];
	}

	public function get($path) {
		throw new \OCP\Files\NotFoundException($path);
	}

	public function nodeExists($path) {
		return false;
	}

	public function newFile($path, $content = null) {
		throw new \OCP\Files\NotPermittedException('not in the root');
	}

	public function getById($id) {
		return [];
	}

	public function isCreatable() {
		return false;
	}

	public function getEtag() {
		return '';
	}

	public function getSize($includeMounts = true) {
		return 0;
	}

	public function getMtime() {
		return 0;
	}

	public function getName() {
		return '';
	}

	public function getInternalPath() {
		return '';
	}

	public function getPath() {
		return '/';
	}

	public function getStorage() {
		return new FakeStorage('root');
	}

	public function getId() {
		return 1;
	}

	public function isEncrypted() {
		return false;
	}

	public function getType() {
		return 'dir';
	}

	public function getMountPoint() {
		return self::mount('/');
	}

	public function getMimetype() {
		return 'httpd/unix-directory';
	}

	public function isReadable() {
		return true;
	}

	public function copy($targetPath) {
		throw new \OCP\Files\NotPermittedException('the root cannot be copied');
	}

	public function getFreeSpace() {
		return \OCP\Files\FileInfo::SPACE_UNKNOWN;
	}
}
