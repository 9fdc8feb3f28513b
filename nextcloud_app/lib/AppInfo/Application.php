<?php

declare(strict_types=1);

namespace OCA\NextPyter\AppInfo;

use OCA\Files\Event\LoadAdditionalScriptsEvent;
use OCA\NextPyter\Listener\LoadFilesScripts;
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
	}

	public function boot(IBootContext $context): void {
	}
}
