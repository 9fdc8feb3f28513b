<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Files;

use OCA\NextPyter\Files\PathRefused;
use OCA\NextPyter\Files\PathRules;
use PHPUnit\Framework\TestCase;

/** The path rules of sidecar/paths.py (validate_relative_path), from Nextcloud's node paths. */
final class PathRulesTest extends TestCase {
	/** @return array<string, array{string, string, string}> */
	public static function nodePaths(): array {
		return [
			'a notebook' => ['alice', '/alice/files/a/b.ipynb', 'a/b.ipynb'],
			'the files folder' => ['alice', '/alice/files', ''],
			'the files folder with a slash' => ['alice', '/alice/files/', ''],
			'a folder' => ['alice', '/alice/files/Projects/2024', 'Projects/2024'],
			'spaces and unicode' => ['alice', '/alice/files/Été 2024/Übung 1.ipynb', 'Été 2024/Übung 1.ipynb'],
			'user id with @ and space' => ['a b@x.org', '/a b@x.org/files/n.ipynb', 'n.ipynb'],
		];
	}

	/** @dataProvider nodePaths */
	public function testNodePathsBecomeRelativeToTheFilesFolder(string $uid, string $nodePath, string $expected): void {
		$this->assertSame($expected, PathRules::relativeToUserFiles($uid, $nodePath));
	}

	/** @return array<string, array{string, string}> */
	public static function refusedNodePaths(): array {
		return [
			'trash' => ['alice', '/alice/files_trashbin/files/a.ipynb'],
			'versions' => ['alice', '/alice/files_versions/a.ipynb'],
			'another user' => ['alice', '/bob/files/a.ipynb'],
			'a prefix of another user' => ['ali', '/alice/files/a.ipynb'],
			'files-like sibling' => ['alice', '/alice/filesX/a.ipynb'],
			'the home itself' => ['alice', '/alice'],
			'dot dot inside' => ['alice', '/alice/files/a/../../bob/files/x'],
			'backslash' => ['alice', '/alice/files/a\\b.ipynb'],
			'control character' => ['alice', "/alice/files/a\tb.ipynb"],
			'nul' => ['alice', "/alice/files/a\0b"],
			'delete character' => ['alice', "/alice/files/a\x7fb"],
			'next line U+0085' => ['alice', "/alice/files/a\u{85}b.ipynb"],
			'line separator U+2028' => ['alice', "/alice/files/a\u{2028}b.ipynb"],
			'paragraph separator U+2029' => ['alice', "/alice/files/a\u{2029}b.ipynb"],
			'right-to-left override U+202E' => ['alice', "/alice/files/evil\u{202E}bynpi.exe"],
			'zero-width space U+200B' => ['alice', "/alice/files/a\u{200B}b.ipynb"],
			'byte order mark U+FEFF' => ['alice', "/alice/files/\u{FEFF}a.ipynb"],
			'invalid utf-8' => ['alice', "/alice/files/\xff.ipynb"],
			'too long' => ['alice', '/alice/files/' . str_repeat('é', 4097)],
		];
	}

	/** @dataProvider refusedNodePaths */
	public function testAnythingElseIsRefused(string $uid, string $nodePath): void {
		$this->expectException(PathRefused::class);
		PathRules::relativeToUserFiles($uid, $nodePath);
	}

	public function testFourThousandNinetySixCharactersAreAllowed(): void {
		$this->assertSame(4096, mb_strlen(PathRules::checkRelative(str_repeat('é', 4096))));
	}

	public function testRelativePathsAreNormalisedLikePurePosixPath(): void {
		$this->assertSame('a/b', PathRules::checkRelative('a//./b/'));
		$this->assertSame('', PathRules::checkRelative('.'));
		$this->assertSame('a/..b/c..', PathRules::checkRelative('a/..b/c..'));
	}

	public function testFilesDirectoriesAreRelative(): void {
		$this->assertSame('', PathRules::fromFilesDir('/'));
		$this->assertSame('Projects/x', PathRules::fromFilesDir('/Projects/x/'));
		$this->assertSame('Projects', PathRules::fromFilesDir('Projects'));
		$this->expectException(PathRefused::class);
		PathRules::fromFilesDir('/../bob');
	}

	public function testOnlyTheHomeMountIsOwnStorage(): void {
		$this->assertTrue(PathRules::isOwnHomeMount('alice', '/alice/'));
		$this->assertTrue(PathRules::isOwnHomeMount('alice', '/alice'));
		$this->assertFalse(PathRules::isOwnHomeMount('alice', '/alice/files/Shared with me/'));
		$this->assertFalse(PathRules::isOwnHomeMount('alice', '/alice/files/External/'));
		$this->assertFalse(PathRules::isOwnHomeMount('alice', '/bob/'));
		$this->assertFalse(PathRules::isOwnHomeMount('alice', '/'));
	}
}
