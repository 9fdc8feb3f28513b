<?php

declare(strict_types=1);

namespace OCA\NextPyter\Settings;

use OCA\NextPyter\AppInfo\Application;
use OCA\NextPyter\Refusal;
use OCA\NextPyter\Service\HomeFiles;
use OCA\NextPyter\Service\SettingsStore;
use OCA\NextPyter\Service\UserAccess;
use OCP\AppFramework\Http\TemplateResponse;
use OCP\AppFramework\Services\IInitialState;
use OCP\Settings\ISettings;
use OCP\Util;

/**
 * Personal settings → NextPyter: the user's server (GET/DELETE /server) with
 * Stop and Open. The page is the script nextpyter-personal, mounted into
 * #nextpyter-personal, with initial state "personal":
 * {enabled, message, filesRootId, profiles, defaultProfile}; "Open" launches
 * filesRootId (the user's files folder) through POST /launch. The server's state
 * comes from GET /server, not from here: the page renders without waiting for
 * the sidecar.
 */
final class Personal implements ISettings {
	public function __construct(
		private IInitialState $initialState,
		private SettingsStore $store,
		private UserAccess $access,
		private HomeFiles $files,
	) {
	}

	public function getForm(): TemplateResponse {
		$settings = $this->store->get();
		$availability = $this->access->availability($settings);
		$rootId = null;
		try {
			$rootId = $this->files->rootId((string)$this->access->currentUser()->getUID());
		} catch (Refusal) {
		}
		$this->initialState->provideInitialState('personal', $availability->jsonSerialize() + [
			'filesRootId' => $rootId,
			'profiles' => $settings->profileNames(),
			'defaultProfile' => $settings->defaultProfile,
		]);
		Util::addScript(Application::APP_ID, 'nextpyter-personal');
		return new TemplateResponse(Application::APP_ID, 'personal', [], TemplateResponse::RENDER_AS_BLANK);
	}

	public function getSection(): string {
		return 'nextpyter';
	}

	public function getPriority(): int {
		return 50;
	}
}
