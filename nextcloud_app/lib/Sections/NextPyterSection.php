<?php

declare(strict_types=1);

namespace OCA\NextPyter\Sections;

use OCA\NextPyter\AppInfo\Application;
use OCP\IURLGenerator;
use OCP\Settings\IIconSection;

/**
 * The "NextPyter" entry of a settings navigation. Nextcloud registers admin and personal
 * sections by class name (appinfo/info.xml), so each has a class; they are the same entry.
 */
abstract class NextPyterSection implements IIconSection {
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
