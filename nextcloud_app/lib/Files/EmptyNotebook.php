<?php

declare(strict_types=1);

namespace OCA\NextPyter\Files;

/**
 * The content of a new notebook: a valid nbformat 4.5 document with no cells,
 * a Python 3 kernel, as JupyterLab writes an untitled notebook.
 */
final class EmptyNotebook {
	public static function json(): string {
		$notebook = [
			'cells' => [],
			'metadata' => [
				'kernelspec' => [
					'display_name' => 'Python 3 (ipykernel)',
					'language' => 'python',
					'name' => 'python3',
				],
				'language_info' => ['name' => 'python'],
			],
			'nbformat' => 4,
			'nbformat_minor' => 5,
		];
		return json_encode($notebook, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR) . "\n";
	}
}
