<?php

declare(strict_types=1);

namespace OCA\NextPyter\Service;

use OCA\NextPyter\AppInfo\Application;
use OCP\AppFramework\Services\IInitialState;
use OCP\Util;

/**
 * The notebook preview on a page: its script (nextpyter-viewer, an init script, so its
 * Viewer handler is there before Files lists the folder) and its initial state
 * "viewer-config" `{enabled, message, public, remoteImages}`, once per page whichever
 * events ask for it. On a public share page (`markPublic()`) the preview shows the
 * notebook and Download only: no Jupyter buttons, even for a logged-in visitor, since the
 * file is the sharer's.
 */
final class PreviewConfig {
	public const SCRIPT = 'nextpyter-viewer';

	/** Per request (one page): whether the script was added, whether it is a public share page. */
	private static bool $added = false;
	private static bool $public = false;

	public function __construct(
		private IInitialState $initialState,
		private SettingsStore $store,
		private UserAccess $access,
	) {
	}

	public static function reset(): void {
		self::$added = false;
		self::$public = false;
	}

	public function markPublic(): void {
		self::$public = true;
	}

	public function addToPage(): void {
		if (self::$added) {
			return;
		}
		self::$added = true;
		Util::addInitScript(Application::APP_ID, self::SCRIPT);
		// Lazy: computed when the page is rendered, after every event had its say.
		$this->initialState->provideLazyInitialState('viewer-config', fn (): array => $this->state());
	}

	/** @return array{enabled: bool, message: ?string, public: bool, remoteImages: bool} */
	public function state(): array {
		$settings = $this->store->get();
		if (self::$public) {
			return ['enabled' => false, 'message' => null, 'public' => true, 'remoteImages' => $settings->remoteImages];
		}
		$availability = $this->access->availability($settings);
		return [
			'enabled' => $availability->enabled,
			'message' => $availability->message,
			'public' => false,
			'remoteImages' => $settings->remoteImages,
		];
	}
}
