<?php

declare(strict_types=1);

namespace OCA\NextPyter\Listener;

use OCA\Files\Event\LoadAdditionalScriptsEvent;
use OCA\NextPyter\AppInfo\Application;
use OCA\NextPyter\Service\PreviewConfig;
use OCA\NextPyter\Service\SettingsStore;
use OCA\NextPyter\Service\UserAccess;
use OCP\AppFramework\Services\IInitialState;
use OCP\EventDispatcher\Event;
use OCP\EventDispatcher\IEventListener;
use OCP\Util;

/**
 * When the Files app loads: its "Open in Jupyter" and "New notebook" actions
 * (script nextpyter-files, loaded as an init script so the actions are
 * registered before Files reads them), and whether this user may use them
 * (initial state "files-config": {enabled, message}; not enabled with a
 * message: the actions show and say why they cannot open), and the notebook preview in the
 * Viewer (PreviewConfig: script nextpyter-viewer, state "viewer-config").
 *
 * @template-implements IEventListener<LoadAdditionalScriptsEvent>
 */
final class LoadFilesScripts implements IEventListener {
	public const SCRIPT = 'nextpyter-files';

	public function __construct(
		private IInitialState $initialState,
		private SettingsStore $store,
		private UserAccess $access,
		private PreviewConfig $preview,
	) {
	}

	public function handle(Event $event): void {
		if (!$event instanceof LoadAdditionalScriptsEvent) {
			return;
		}
		Util::addInitScript(Application::APP_ID, self::SCRIPT);
		$this->initialState->provideLazyInitialState(
			'files-config',
			fn () => $this->access->availability($this->store->get()),
		);
		$this->preview->addToPage();
	}
}
