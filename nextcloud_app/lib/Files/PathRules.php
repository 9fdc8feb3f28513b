<?php

declare(strict_types=1);

namespace OCA\NextPyter\Files;

/**
 * Where a Nextcloud node is, as the launch token names it.
 *
 * Nextcloud gives a node's path as `/<uid>/files/a/b.ipynb`; the token's `path`
 * is relative to the user's files folder (`a/b.ipynb`, `""` for the folder
 * itself), which is what the sidecar mounts (`<datadir>/<uid>/files`). Anything
 * not under `/<uid>/files` (trash, versions, another user's files) is refused,
 * and so is anything sidecar/paths.py (validate_relative_path) would refuse, so a
 * token this app signs is never turned away for its path.
 */
final class PathRules {
	public const MAX_LENGTH = 4096;

	/**
	 * @throws PathRefused
	 */
	public static function relativeToUserFiles(string $userId, string $nodePath): string {
		$root = '/' . $userId . '/files';
		if ($nodePath === $root || $nodePath === $root . '/') {
			return '';
		}
		if (!str_starts_with($nodePath, $root . '/')) {
			throw new PathRefused('it is not in your own files');
		}
		return self::checkRelative(substr($nodePath, strlen($root) + 1));
	}

	/**
	 * The normalised relative path (no `.` segments, no empty segments), or a refusal.
	 *
	 * @throws PathRefused
	 */
	public static function checkRelative(string $path): string {
		if (!mb_check_encoding($path, 'UTF-8')) {
			throw new PathRefused('its name is not valid UTF-8');
		}
		if (mb_strlen($path, 'UTF-8') > self::MAX_LENGTH) {
			throw new PathRefused('its path is longer than ' . self::MAX_LENGTH . ' characters');
		}
		// Unicode controls (Cc), format characters such as bidirectional overrides (Cf) and
		// line and paragraph separators (Zl, Zp), as sidecar/paths.py refuses them.
		if (preg_match('/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u', $path, $found) === 1) {
			throw new PathRefused(sprintf(
				'its path contains the character U+%04X, a control, format or line-separator character; rename it',
				mb_ord($found[0], 'UTF-8'),
			));
		}
		if (str_contains($path, '\\')) {
			throw new PathRefused('its path contains a backslash');
		}
		if (str_starts_with($path, '/')) {
			throw new PathRefused('its path is absolute, not relative to your files');
		}
		$parts = array_values(array_filter(
			explode('/', $path),
			static fn (string $part): bool => $part !== '' && $part !== '.',
		));
		if (in_array('..', $parts, true)) {
			throw new PathRefused("its path contains '..'");
		}
		return implode('/', $parts);
	}

	/**
	 * A folder as the Files app names it (`/`, `/Documents/`, `Documents`) made
	 * relative to the user's files folder.
	 *
	 * @throws PathRefused
	 */
	public static function fromFilesDir(string $dir): string {
		return self::checkRelative(ltrim($dir, '/'));
	}

	/**
	 * Whether a node on the mount at $mountPoint lives in the user's own home
	 * storage, which is the only storage the sidecar mounts. Received shares,
	 * external storages and group folders are mounted below `/<uid>/files/…`;
	 * the home storage is mounted at `/<uid>/`.
	 */
	public static function isOwnHomeMount(string $userId, string $mountPoint): bool {
		return rtrim($mountPoint, '/') === '/' . $userId;
	}
}
