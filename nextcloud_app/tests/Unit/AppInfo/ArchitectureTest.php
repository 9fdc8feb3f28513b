<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\AppInfo;

use PHPUnit\Framework\TestCase;

/** The logic stays plain PHP; only the glue knows Nextcloud. */
final class ArchitectureTest extends TestCase {
	private const PURE = ['lib/Token', 'lib/Files', 'lib/Config', 'lib/Refusal.php'];

	public function testTheLogicHasNoNextcloudDependency(): void {
		$root = dirname(__DIR__, 3);
		$files = [];
		foreach (self::PURE as $path) {
			$files = array_merge($files, is_dir("$root/$path") ? glob("$root/$path/*.php") : ["$root/$path"]);
		}
		$this->assertGreaterThan(10, count($files));
		foreach ($files as $file) {
			$this->assertDoesNotMatchRegularExpression('/\b(OCP|OC|Psr|OCA\\\\NextPyter\\\\(Service|Controller))\\\\/', (string)file_get_contents($file), $file);
		}
	}

	public function testEveryPhpFileDeclaresStrictTypes(): void {
		$root = dirname(__DIR__, 3);
		$iterator = new \RecursiveIteratorIterator(new \RecursiveDirectoryIterator($root, \FilesystemIterator::SKIP_DOTS));
		$count = 0;
		foreach ($iterator as $file) {
			$path = (string)$file;
			if (str_ends_with($path, '.php') && !str_contains($path, '/node_modules/') && !str_contains($path, '/build/')) {
				$this->assertStringContainsString('declare(strict_types=1);', (string)file_get_contents($path), $path);
				$count++;
			}
		}
		$this->assertGreaterThan(50, $count);
	}
}
