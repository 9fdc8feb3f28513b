<?php

declare(strict_types=1);

namespace OCA\NextPyter\Controller;

use OCA\NextPyter\Refusal;
use OCA\NextPyter\Service\HomeFiles;
use OCA\NextPyter\Service\SettingsStore;
use OCA\NextPyter\Service\TokenIssuer;
use OCA\NextPyter\Service\UserAccess;
use OCA\NextPyter\Token\UserIdRule;
use OCP\AppFramework\Http\Attribute\FrontpageRoute;
use OCP\AppFramework\Http\Attribute\NoAdminRequired;
use OCP\AppFramework\Http\Attribute\UserRateLimit;
use OCP\AppFramework\Http\JSONResponse;
use OCP\IRequest;

/**
 * "Open in Jupyter": signs a launch token for a file or folder in the user's own
 * files. The browser posts the token to `action` in a form (never in a URL).
 */
final class LaunchController extends JsonController {
	public function __construct(
		IRequest $request,
		private SettingsStore $store,
		private UserAccess $access,
		private HomeFiles $files,
		private TokenIssuer $tokens,
	) {
		parent::__construct($request);
	}

	/**
	 * Body `{fileId: int, profile?: string}` → `{action, token}`; the token lives 60 seconds and works once.
	 */
	#[NoAdminRequired]
	#[UserRateLimit(limit: 20, period: 60)]
	#[FrontpageRoute(verb: 'POST', url: '/launch')]
	public function launch(mixed $fileId = null, mixed $profile = null): JSONResponse {
		return $this->answer(function () use ($fileId, $profile): array {
			$profile = self::optionalString($profile, 'profile');
			if ($fileId !== null && !is_int($fileId) && !(is_string($fileId) && ctype_digit($fileId))) {
				throw new Refusal(400, "'fileId' must be the number of a file or folder.");
			}
			$fileId = $fileId === null ? null : (int)$fileId;
			$user = $this->access->currentUser();
			$userId = (string)$user->getUID();
			$settings = $this->store->get();
			$this->access->checkCanLaunch($settings, $user);
			$chosen = ($profile === null || $profile === '') ? $settings->defaultProfile : $profile;
			if (!in_array($chosen, $settings->profileNames(), true)) {
				throw new Refusal(400, "There is no profile '" . mb_substr($chosen, 0, 40) . "'. Pick one of: " . implode(', ', $settings->profileNames()) . '.');
			}
			if (!UserIdRule::isValid($userId)) {
				throw new Refusal(422, 'Your Nextcloud user id has characters Jupyter cannot use (it allows letters, digits, space and _ . @ - \'). Ask your administrator.');
			}
			$path = $this->files->pathForLaunch($userId, $fileId ?? 0);
			return [
				'action' => $settings->launchAction(),
				'token' => $this->tokens->launchToken($settings, $userId, $path, $chosen),
			];
		});
	}
}
