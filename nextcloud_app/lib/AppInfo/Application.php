<?php

declare(strict_types=1);

namespace OCA\NextPyter\AppInfo;

use OCA\Files\Event\LoadAdditionalScriptsEvent;
use OCA\Files_Sharing\Event\BeforeTemplateRenderedEvent;
use OCA\NextPyter\Listener\LoadFilesScripts;
use OCA\NextPyter\Listener\LoadViewerScripts;
use OCA\Viewer\Event\LoadViewer;
use OCP\AppFramework\App;
use OCP\AppFramework\Bootstrap\IBootContext;
use OCP\AppFramework\Bootstrap\IBootstrap;
use OCP\AppFramework\Bootstrap\IRegistrationContext;

/**
 * NextPyter in Nextcloud. Routes are attributes on the controllers; settings,
 * the background job and the repair step are declared in appinfo/info.xml.
 */
final class Application extends App implements IBootstrap {
	public const APP_ID = 'nextpyter';

	public function __construct(array $urlParams = []) {
		parent::__construct(self::APP_ID, $urlParams);
	}

	public function register(IRegistrationContext $context): void {
		$context->registerEventListener(LoadAdditionalScriptsEvent::class, LoadFilesScripts::class);
		// The notebook preview where the Viewer loads outside Files, and on public share pages.
		// Listening to an event class of an app that is disabled is harmless: it never fires.
		$context->registerEventListener(LoadViewer::class, LoadViewerScripts::class);
		$context->registerEventListener(BeforeTemplateRenderedEvent::class, LoadViewerScripts::class);
	}

	public function boot(IBootContext $context): void {
	}
}
