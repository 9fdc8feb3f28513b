<?php

declare(strict_types=1);

namespace OCA\Files_Sharing\Event;

use OCP\EventDispatcher\Event;
use OCP\Share\IShare;

/** Test double of files_sharing's event, dispatched before a public share page is rendered. */
class BeforeTemplateRenderedEvent extends Event {
	public function __construct(
		private IShare $share,
		private ?string $scope = null,
	) {
	}

	public function getShare(): IShare {
		return $this->share;
	}

	public function getScope(): ?string {
		return $this->scope;
	}
}
