<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\Files\File;

final class FakeFile extends FakeNode implements File {
	public string $content = '';

	public function getType() {
		return 'file';
	}
}
