<?php

declare(strict_types=1);

namespace OCA\NextPyter\Settings;

use OCA\NextPyter\AppInfo\Application;
use OCA\NextPyter\Service\KeyStore;
use OCA\NextPyter\Service\SettingsStore;
use OCP\AppFramework\Http\TemplateResponse;
use OCP\AppFramework\Services\IInitialState;
use OCP\AppFramework\Utility\ITimeFactory;
use OCP\Settings\ISettings;
use OCP\Util;

/**
 * Administration settings → NextPyter. The page is the script nextpyter-admin,
 * mounted into #nextpyter-admin, with initial state "admin-settings".
 */
final class Admin implements ISettings {
	public function __construct(
		private IInitialState $initialState,
		private SettingsStore $store,
		private KeyStore $keys,
		private ITimeFactory $time,
	) {
	}

	public function getForm(): TemplateResponse {
		$ring = $this->keys->ring();
		// The settings (the keys PUT /admin/settings takes), then what the page shows
		// beside them: the signing keys, and what the sidecar's settings must say.
		$this->initialState->provideInitialState('admin-settings', $this->store->get()->toArray() + [
			'keyId' => $ring->active()->kid(),
			'keyCreated' => $ring->active()->created(),
			'keys' => $ring->describe($this->time->getTime()),
			'issuerDefault' => $this->store->nextcloudBaseUrl(),
			'jwksUrl' => $this->store->jwksUrl(),
		]);
		Util::addScript(Application::APP_ID, 'nextpyter-admin');
		return new TemplateResponse(Application::APP_ID, 'admin', [], TemplateResponse::RENDER_AS_BLANK);
	}

	public function getSection(): string {
		return 'nextpyter';
	}

	public function getPriority(): int {
		return 50;
	}
}
