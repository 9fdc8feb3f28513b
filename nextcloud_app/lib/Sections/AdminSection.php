<?php

declare(strict_types=1);

namespace OCA\NextPyter\Sections;

use OCA\NextPyter\AppInfo\Application;
use OCP\IURLGenerator;
use OCP\Settings\IIconSection;

/** The "NextPyter" entry in the administration settings navigation. */
final class AdminSection implements IIconSection {
	public function __construct(
		private IURLGenerator $urls,
	) {
	}

	public function getID(): string {
		return 'nextpyter';
	}

	public function getName(): string {
		return 'NextPyter';
	}

	public function getPriority(): int {
		return 80;
	}

	public function getIcon(): string {
		return $this->urls->imagePath(Application::APP_ID, 'app-dark.svg');
	}
}
