<?php

declare(strict_types=1);

namespace OCA\NextPyter\Service;

use OCA\NextPyter\Files\EmptyNotebook;
use OCA\NextPyter\Files\NotebookName;
use OCA\NextPyter\Files\PathRefused;
use OCA\NextPyter\Files\PathRules;
use OCA\NextPyter\Refusal;
use OCP\AppFramework\Utility\ITimeFactory;
use OCP\Files\Cache\IScanner;
use OCP\Files\File;
use OCP\Files\InvalidPathException;
use OCP\Files\Folder;
use OCP\Files\IRootFolder;
use OCP\Files\Node;
use OCP\Files\NotEnoughSpaceException;
use OCP\Files\NotFoundException;
use OCP\Files\NotPermittedException;
use OCP\Files\Storage\ISharedStorage;
use OCP\Lock\ILockingProvider;
use OCP\Lock\LockedException;

/**
 * A user's own files, as Jupyter sees them: the home storage's `files` folder,
 * which the sidecar mounts whole (`<datadir>/<uid>/files`). Shares received from
 * others, external storages and group folders are other storages, mounted into
 * the user's tree by Nextcloud only; Jupyter cannot see them.
 *
 * Also the rescans that make files written from JupyterLab (outside Nextcloud)
 * appear in Nextcloud with their size and date.
 */
final class HomeFiles {
	public const SHARED_MESSAGE = '%s is shared with you or lives on external storage, and Jupyter only sees your own files. '
		. 'Copy it into your own files (in Files: Copy to your own folder), then open the copy.';

	/** Notebooks larger than this are not copied for "Open a copy in Jupyter". */
	public const MAX_COPY_BYTES = 512 * 1024 * 1024;
	public const NOTEBOOK_MIME = 'application/x-ipynb+json';

	public function __construct(
		private IRootFolder $root,
		private ITimeFactory $time,
		private ILockingProvider $locks,
	) {
	}

	/**
	 * The launch token's path for the file or folder $fileId of $userId.
	 *
	 * @throws Refusal 404 when the user cannot see it, 422 when Jupyter cannot open it
	 */
	public function pathForLaunch(string $userId, int $fileId): string {
		if ($fileId <= 0) {
			throw new Refusal(400, 'No file was given: send the id of the notebook or folder to open as fileId.');
		}
		$nodes = $this->userFolder($userId)->getById($fileId);
		if (!is_array($nodes) || $nodes === []) {
			throw new Refusal(404, 'This file or folder does not exist any more, or you cannot see it. Reload the folder in Files and try again.');
		}
		$own = null;
		foreach ($nodes as $node) {
			if ($node instanceof Node && $this->isInOwnHome($userId, $node)) {
				$own = $node;
				break;
			}
		}
		if ($own === null) {
			throw new Refusal(422, sprintf(self::SHARED_MESSAGE, '“' . $nodes[0]->getName() . '”'));
		}
		$this->checkReadableByJupyter($own);
		try {
			return PathRules::relativeToUserFiles($userId, (string)$own->getPath());
		} catch (PathRefused $refused) {
			throw new Refusal(422, 'Jupyter cannot open “' . $own->getName() . '”: ' . $refused->getMessage() . '. Rename or move it, then try again.');
		}
	}

	/** The file id of the user's files folder (what "Open" on the personal page launches). */
	public function rootId(string $userId): int {
		return (int)$this->userFolder($userId)->getId();
	}

	/**
	 * A new empty notebook in the folder $dir (as Files names it: "/" or "/Projects").
	 *
	 * @return array{fileId: int, path: string} path as Files shows it, from the files root: "/Projects/Untitled.ipynb"
	 * @throws Refusal
	 */
	public function createNotebook(string $userId, string $dir, string $name): array {
		$folder = $this->folder($userId, $dir);
		if (!$this->isInOwnHome($userId, $folder)) {
			throw new Refusal(422, 'This folder is shared with you or lives on external storage, and Jupyter only sees your own files. Create the notebook in one of your own folders.');
		}
		if (!$folder->isCreatable()) {
			throw new Refusal(403, 'You cannot create files in this folder. Pick a folder of your own.');
		}
		try {
			$unique = NotebookName::unique(NotebookName::clean($name), static fn (string $candidate): bool => (bool)$folder->nodeExists($candidate));
		} catch (PathRefused $refused) {
			throw new Refusal(400, 'This notebook name cannot be used: ' . $refused->getMessage() . '. Pick another name.');
		}
		try {
			$file = $folder->newFile($unique, EmptyNotebook::json());
		} catch (NotPermittedException $error) {
			throw new Refusal(403, 'Nextcloud did not let you create “' . $unique . '” here (' . $error->getMessage() . '). Check your quota and the folder\'s permissions.');
		}
		return [
			'fileId' => (int)$file->getId(),
			'path' => '/' . PathRules::relativeToUserFiles($userId, (string)$file->getPath()),
		];
	}

	/**
	 * "Open a copy in Jupyter": a copy of the notebook $fileId, which the user can read
	 * (shared with them, on external storage, read-only), in the top folder of their own
	 * files, as "<name> (copy).ipynb" (or "(copy 2)"…: never overwriting anything).
	 *
	 * @return array{fileId: int, path: string} path as Files shows it: "/Analysis (copy).ipynb"
	 * @throws Refusal 400 no id or a folder, 403 not readable or view-only, 404 unknown, 409 quota, 413 too large, 422 not a notebook
	 */
	public function copyToOwnFiles(string $userId, int $fileId): array {
		if ($fileId <= 0) {
			throw new Refusal(400, 'No notebook was given: send the id of the notebook to copy as fileId.');
		}
		$files = $this->userFolder($userId);
		$nodes = $files->getById($fileId);
		if (!is_array($nodes) || $nodes === []) {
			throw new Refusal(404, 'This notebook does not exist any more, or you cannot see it. Reload the folder in Files and try again.');
		}
		$source = $nodes[0];
		if (!$source instanceof File) {
			throw new Refusal(400, '“' . $source->getName() . '” is a folder, not a notebook: only notebooks can be copied this way.');
		}
		$name = (string)$source->getName();
		if (!str_ends_with(strtolower($name), NotebookName::EXTENSION) && $source->getMimetype() !== self::NOTEBOOK_MIME) {
			throw new Refusal(422, '“' . $name . '” is not a notebook (.ipynb), so it cannot be opened in Jupyter.');
		}
		if (!$source->isReadable()) {
			throw new Refusal(403, 'You may not read “' . $name . '”, so it cannot be copied.');
		}
		if ($this->isViewOnly($source)) {
			throw new Refusal(403, '“' . $name . '” is shared with you for viewing only (without download), so it cannot be copied. Ask its owner to allow downloads.');
		}
		$size = (int)$source->getSize();
		if ($size > self::MAX_COPY_BYTES) {
			throw new Refusal(413, '“' . $name . '” is larger than ' . (self::MAX_COPY_BYTES >> 20) . ' MB, too large to copy this way. Download it and upload it into your own files.');
		}
		$free = $files->getFreeSpace();
		if (is_int($free) && $free >= 0 && $free < $size) {
			throw new Refusal(409, 'Your files have no room for a copy of “' . $name . '” (your quota is full). Delete something, or ask your administrator for more space.');
		}
		// Node::copy overwrites whatever is at the target, so the free name picked here must
		// still be free when the copy is made: one copy per user at a time (a second request
		// meanwhile is told to try again; Nextcloud's locks do not wait).
		$lock = 'nextpyter/copy/' . $userId;
		try {
			$this->locks->acquireLock($lock, ILockingProvider::LOCK_EXCLUSIVE, 'a copy into your files');
		} catch (LockedException) {
			throw new Refusal(409, 'Another copy into your files is being made right now. Try again in a moment.');
		}
		try {
			$copy = $this->copyUnderLock($files, $source, $name);
		} finally {
			$this->locks->releaseLock($lock, ILockingProvider::LOCK_EXCLUSIVE);
		}
		return [
			'fileId' => (int)$copy->getId(),
			'path' => '/' . PathRules::relativeToUserFiles($userId, (string)$copy->getPath()),
		];
	}

	/** @throws Refusal */
	private function copyUnderLock(Folder $files, File $source, string $name): Node {
		try {
			$copyName = NotebookName::copyName($name, static fn (string $candidate): bool => (bool)$files->nodeExists($candidate));
		} catch (PathRefused $refused) {
			throw new Refusal(422, '“' . $name . '” cannot be copied: ' . $refused->getMessage() . '. Rename it, then try again.');
		}
		try {
			return $source->copy(rtrim((string)$files->getPath(), '/') . '/' . $copyName);
		} catch (NotEnoughSpaceException) {
			throw new Refusal(409, 'Your files have no room for a copy of “' . $name . '” (your quota is full). Delete something, or ask your administrator for more space.');
		} catch (NotPermittedException $error) {
			throw new Refusal(403, 'Nextcloud did not let you copy “' . $name . '” into your files (' . $error->getMessage() . '). Check your quota, or download it and upload it into your files.');
		} catch (LockedException) {
			throw new Refusal(409, '“' . $name . '” is being written right now (by a sync client, JupyterLab or another tab). Try again in a moment.');
		} catch (InvalidPathException $error) {
			throw new Refusal(422, '“' . $name . '” cannot be copied under the name “' . $copyName . '” (' . $error->getMessage() . '). Rename it, then try again.');
		} catch (NotFoundException) {
			throw new Refusal(404, '“' . $name . '” or your files folder does not exist any more. Reload the folder in Files and try again.');
		}
	}

	/** A file shared with the user without the right to download it (Nextcloud's "view only"). */
	private function isViewOnly(Node $node): bool {
		$storage = $node->getStorage();
		if (!$storage->instanceOfStorage(ISharedStorage::class) || !method_exists($storage, 'getShare')) {
			return false;
		}
		try {
			$attributes = $storage->getShare()->getAttributes();
		} catch (\Throwable) {
			return true; // a share that cannot be read is not copied
		}
		return $attributes !== null && $attributes->getAttribute('permissions', 'download') === false;
	}

	/**
	 * Rescan one folder, not its subfolders (cheap: one directory listing), so
	 * what JupyterLab wrote there shows now. True when something changed, for the
	 * page to reload its listing.
	 *
	 * @throws Refusal
	 */
	public function rescanFolder(string $userId, string $dir): bool {
		$folder = $this->folder($userId, $dir);
		if (!$this->isInOwnHome($userId, $folder) || !$folder->getStorage()->isLocal()) {
			return false; // Jupyter never writes there
		}
		$before = self::fingerprint($folder);
		$storage = $folder->getStorage();
		$storage->getScanner()->scan((string)$folder->getInternalPath(), IScanner::SCAN_SHALLOW, IScanner::REUSE_ETAG | IScanner::REUSE_SIZE);
		if (self::fingerprint($folder) === $before) {
			return false;
		}
		// The folder's own entry is updated by the scan; its parents learn of it here,
		// so sync clients and the folder sizes above see the change too.
		$storage->getPropagator()->propagateChange((string)$folder->getInternalPath(), $this->time->getTime());
		return true;
	}

	/**
	 * Rescan all of a user's files (what `occ files:scan <user>` does for the home
	 * storage): new, changed and deleted files get their entries, sizes and etags.
	 */
	public function rescanAll(string $userId): void {
		$files = $this->userFolder($userId);
		$storage = $files->getStorage();
		if (!$storage->isLocal()) {
			return;
		}
		$storage->getScanner()->scan((string)$files->getInternalPath(), IScanner::SCAN_RECURSIVE, IScanner::REUSE_ETAG | IScanner::REUSE_SIZE);
	}

	private function isInOwnHome(string $userId, Node $node): bool {
		$mount = $node->getMountPoint();
		return $mount !== null && PathRules::isOwnHomeMount($userId, (string)$mount->getMountPoint());
	}

	/** @throws Refusal 422 */
	private function checkReadableByJupyter(Node $node): void {
		if (!$node->getStorage()->isLocal()) {
			throw new Refusal(422, 'Nextcloud keeps your files in object storage, which Jupyter cannot open. Ask your administrator: NextPyter needs the files in Nextcloud\'s data directory.');
		}
		if ($node->isEncrypted()) {
			throw new Refusal(422, '“' . $node->getName() . '” is encrypted by Nextcloud, and Jupyter cannot read encrypted files. Ask your administrator.');
		}
	}

	/** @throws Refusal */
	private function folder(string $userId, string $dir): Folder {
		try {
			$relative = PathRules::fromFilesDir($dir);
		} catch (PathRefused $refused) {
			throw new Refusal(400, 'This folder cannot be used: ' . $refused->getMessage() . '.');
		}
		$files = $this->userFolder($userId);
		try {
			$node = $relative === '' ? $files : $files->get($relative);
		} catch (NotFoundException) {
			throw new Refusal(404, 'The folder “' . $dir . '” does not exist any more. Reload Files and try again.');
		}
		if (!$node instanceof Folder) {
			throw new Refusal(400, '“' . $dir . '” is a file, not a folder.');
		}
		return $node;
	}

	private function userFolder(string $userId): Folder {
		try {
			$folder = $this->root->getUserFolder($userId);
		} catch (NotPermittedException|NotFoundException $error) {
			throw new Refusal(404, 'Your files folder is not available (' . $error->getMessage() . '). Try again; if it keeps failing, ask your administrator.');
		}
		return $folder;
	}

	/** Name, etag, size and date of each entry, as Nextcloud knows them now. */
	private static function fingerprint(Folder $folder): string {
		$entries = [];
		foreach ($folder->getDirectoryListing() as $node) {
			$entries[] = [$node->getName(), $node->getEtag(), $node->getSize(), $node->getMTime()];
		}
		sort($entries);
		return hash('sha256', json_encode($entries, JSON_THROW_ON_ERROR));
	}
}
