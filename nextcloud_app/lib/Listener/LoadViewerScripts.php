<?php

declare(strict_types=1);

namespace OCA\NextPyter\Listener;

use OCA\Files_Sharing\Event\BeforeTemplateRenderedEvent;
use OCA\NextPyter\Service\PreviewConfig;
use OCA\Viewer\Event\LoadViewer;
use OCP\EventDispatcher\Event;
use OCP\EventDispatcher\IEventListener;

/**
 * The notebook preview wherever Nextcloud's Viewer is loaded outside Files: `LoadViewer`
 * (which apps and the public share page dispatch to load the Viewer) and the public share
 * page itself (files_sharing's `BeforeTemplateRenderedEvent`, which marks the page public:
 * render and Download only). Files' own page gets it from LoadFilesScripts.
 *
 * @template-implements IEventListener<Event>
 */
final class LoadViewerScripts implements IEventListener {
	public function __construct(
		private PreviewConfig $preview,
	) {
	}

	public function handle(Event $event): void {
		if ($event instanceof BeforeTemplateRenderedEvent) {
			$this->preview->markPublic();
			$this->preview->addToPage();
		} elseif ($event instanceof LoadViewer) {
			$this->preview->addToPage();
		}
	}
}
