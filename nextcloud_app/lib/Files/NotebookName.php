<?php

declare(strict_types=1);

namespace OCA\NextPyter\Files;

/**
 * Names of new notebooks: "Untitled.ipynb", then "Untitled 1.ipynb",
 * "Untitled 2.ipynb"… (JupyterLab's own pattern), never overwriting a file.
 */
final class NotebookName {
	public const DEFAULT = 'Untitled.ipynb';
	public const EXTENSION = '.ipynb';
	private const MAX_BYTES = 250;
	private const MAX_TRIES = 10000;

	/**
	 * The requested name, checked, with ".ipynb" added when it is missing.
	 *
	 * @throws PathRefused
	 */
	public static function clean(string $requested): string {
		$name = trim($requested);
		if ($name === '') {
			return self::DEFAULT;
		}
		if (!str_ends_with(strtolower($name), self::EXTENSION)) {
			$name .= self::EXTENSION;
		}
		if (str_contains($name, '/') || str_contains($name, '\\')) {
			throw new PathRefused('a file name cannot contain / or \\');
		}
		if ($name === self::EXTENSION || str_starts_with($name, '.')) {
			throw new PathRefused('a notebook name cannot start with a dot');
		}
		if (strlen($name) > self::MAX_BYTES) {
			throw new PathRefused('the name is longer than ' . self::MAX_BYTES . ' bytes');
		}
		PathRules::checkRelative($name);
		return $name;
	}

	/**
	 * The name of a copy of the notebook $original: "<stem> (copy).ipynb", then
	 * "<stem> (copy 2).ipynb"…, the first for which $exists is false (never overwriting).
	 * A stem too long for the suffix is shortened (whole UTF-8 characters).
	 *
	 * @param callable(string): bool $exists
	 * @throws PathRefused
	 */
	public static function copyName(string $original, callable $exists): string {
		$name = trim(str_replace(['/', '\\'], '_', $original));
		$stem = str_ends_with(strtolower($name), self::EXTENSION) ? substr($name, 0, -strlen(self::EXTENSION)) : $name;
		$stem = ltrim($stem, '.');
		if ($stem === '') {
			$stem = 'Notebook';
		}
		for ($i = 1; $i <= self::MAX_TRIES; $i++) {
			$suffix = $i === 1 ? ' (copy)' : " (copy $i)";
			$room = self::MAX_BYTES - strlen($suffix . self::EXTENSION);
			$short = strlen($stem) > $room ? mb_strcut($stem, 0, $room, 'UTF-8') : $stem;
			$candidate = self::clean($short . $suffix . self::EXTENSION);
			if (!$exists($candidate)) {
				return $candidate;
			}
		}
		throw new PathRefused('your files already hold ' . self::MAX_TRIES . ' copies of this notebook');
	}

	/**
	 * The first of $name, "<stem> 1.ipynb", "<stem> 2.ipynb"… for which $exists is false.
	 *
	 * @param callable(string): bool $exists
	 */
	public static function unique(string $name, callable $exists): string {
		if (!$exists($name)) {
			return $name;
		}
		$stem = substr($name, 0, -strlen(self::EXTENSION));
		$extension = substr($name, -strlen(self::EXTENSION));
		for ($i = 1; $i <= self::MAX_TRIES; $i++) {
			$candidate = "$stem $i$extension";
			if (!$exists($candidate)) {
				return $candidate;
			}
		}
		throw new PathRefused('this folder already holds ' . self::MAX_TRIES . ' notebooks named like it');
	}
}
