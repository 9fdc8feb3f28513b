<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Files;

use OCA\NextPyter\Files\EmptyNotebook;
use OCA\NextPyter\Files\NotebookName;
use OCA\NextPyter\Files\PathRefused;
use PHPUnit\Framework\TestCase;

final class NotebooksTest extends TestCase {
	public function testNamesCountUpLikeJupyterLab(): void {
		$taken = [];
		$exists = static function (string $name) use (&$taken): bool {
			return in_array($name, $taken, true);
		};
		foreach (['Untitled.ipynb', 'Untitled 1.ipynb', 'Untitled 2.ipynb'] as $expected) {
			$name = NotebookName::unique(NotebookName::clean(''), $exists);
			$this->assertSame($expected, $name);
			$taken[] = $name;
		}
	}

	public function testAGapIsFilled(): void {
		$taken = ['Untitled.ipynb', 'Untitled 2.ipynb'];
		$this->assertSame('Untitled 1.ipynb', NotebookName::unique('Untitled.ipynb', static fn (string $n): bool => in_array($n, $taken, true)));
	}

	public function testRequestedNamesGetTheExtension(): void {
		$this->assertSame('Analysis.ipynb', NotebookName::clean(' Analysis '));
		$this->assertSame('Analysis.IPYNB', NotebookName::clean('Analysis.IPYNB'));
		$this->assertSame('Analysis 1.ipynb', NotebookName::unique('Analysis.ipynb', static fn (string $n): bool => $n === 'Analysis.ipynb'));
	}

	/** @return array<string, array{string}> */
	public static function badNames(): array {
		return [
			'slash' => ['a/b'],
			'backslash' => ['a\\b'],
			'hidden' => ['.secret'],
			'only the extension' => ['.ipynb'],
			'control character' => ["a\nb"],
			'too long' => [str_repeat('x', 251)],
		];
	}

	/** @dataProvider badNames */
	public function testBadNamesAreRefused(string $name): void {
		$this->expectException(PathRefused::class);
		NotebookName::clean($name);
	}

	public function testTheEmptyNotebookIsValidNbformat4(): void {
		$notebook = json_decode(EmptyNotebook::json(), true, 512, JSON_THROW_ON_ERROR);
		$this->assertSame(4, $notebook['nbformat']);
		$this->assertSame(5, $notebook['nbformat_minor']);
		$this->assertSame([], $notebook['cells']);
		$this->assertSame('python3', $notebook['metadata']['kernelspec']['name']);
		$this->assertStringStartsWith('{', EmptyNotebook::json());
		$this->assertStringContainsString('"cells": []', EmptyNotebook::json());
	}
}
