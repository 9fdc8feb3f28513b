<?php

declare(strict_types=1);

namespace OCA\NextPyter\Controller;

use OCA\NextPyter\Config\SettingsValidator;
use OCA\NextPyter\Refusal;
use OCA\NextPyter\Service\KeyStore;
use OCA\NextPyter\Service\SettingsStore;
use OCA\NextPyter\Service\SidecarClient;
use OCA\NextPyter\Service\UserAccess;
use OCA\NextPyter\Token\AdminClaims;
use OCA\NextPyter\Token\UserIdRule;
use OCP\AppFramework\Http\Attribute\FrontpageRoute;
use OCP\AppFramework\Http\JSONResponse;
use OCP\AppFramework\Utility\ITimeFactory;
use OCP\IRequest;

/**
 * The admin settings page's calls. Administrators only: no method here carries
 * #[NoAdminRequired], so Nextcloud refuses everyone else before any code runs.
 */
final class AdminController extends JsonController {
	public function __construct(
		IRequest $request,
		private SettingsStore $store,
		private KeyStore $keys,
		private SidecarClient $sidecar,
		private UserAccess $access,
		private ITimeFactory $time,
	) {
		parent::__construct($request);
	}

	/**
	 * → `{health: {status, checks, message}, sessions: [the sidecar's Server objects:
	 * {user_id, slug, profile, state, created, detail}]}`; status is "ok", "unavailable"
	 * (runs, not ready), "unreachable" or "not-configured".
	 */
	#[FrontpageRoute(verb: 'GET', url: '/admin/status')]
	public function status(): JSONResponse {
		return $this->answer(function (): array {
			$settings = $this->store->get();
			$health = $this->sidecar->ready($settings);
			$sessions = [];
			if ($health['status'] !== 'not-configured' && $health['status'] !== 'unreachable') {
				try {
					$sessions = $this->sidecar->sessions($settings, $this->adminId());
				} catch (Refusal $refusal) {
					$health['message'] .= ' Listing the servers failed: ' . $refusal->getMessage();
				}
			}
			return ['health' => $health, 'sessions' => $sessions];
		});
	}

	/**
	 * Body: the settings (keys of Settings::toArray(); missing keys keep their value).
	 * → `{settings, sidecar: {applied: bool, message}}`, or 400 `{message, errors: {field: message}}`.
	 */
	#[FrontpageRoute(verb: 'PUT', url: '/admin/settings')]
	public function saveSettings(): JSONResponse {
		return $this->answer(function (): array {
			$validator = new SettingsValidator(
				$this->store->nextcloudBaseUrl(),
				fn (string $group): bool => $this->access->groupExists($group),
			);
			$settings = $validator->validate($this->request->getParams(), $this->store->get());
			$this->store->save($settings);
			$sidecar = ['applied' => false, 'message' => 'Saved. Set the sidecar internal URL so the sidecar gets these settings too.'];
			if ($settings->sidecarConfigured()) {
				try {
					$this->sidecar->applyConfig($settings, $this->adminId());
					$sidecar = ['applied' => true, 'message' => 'Saved; the sidecar applies them from the next launch on.'];
				} catch (Refusal $refusal) {
					$sidecar = ['applied' => false, 'message' => 'Saved here, but the sidecar did not take them: ' . $refusal->getMessage() . ' Save again once it is reachable.'];
				}
			}
			return ['settings' => $settings->toArray(), 'sidecar' => $sidecar];
		});
	}

	/**
	 * A new signing key signs from now on; the old one stays in the JWKS for ten
	 * minutes, so tokens already handed out keep working.
	 * → `{keyId, keyCreated, keys: [{kid, active, created, retiredAt, dropsAt}], jwksUrl}`.
	 */
	#[FrontpageRoute(verb: 'POST', url: '/admin/rotate-key')]
	public function rotateKey(): JSONResponse {
		return $this->answer(function (): array {
			$ring = $this->keys->rotate();
			return [
				'keyId' => $ring->active()->kid(),
				'keyCreated' => $ring->active()->created(),
				'keys' => $ring->describe($this->time->getTime()),
				'jwksUrl' => $this->store->jwksUrl(),
			];
		});
	}

	/** Stop a user's server → `{stopped: true}`, or 404 when none runs. */
	#[FrontpageRoute(verb: 'DELETE', url: '/admin/sessions/{user}')]
	public function stopSession(string $user): JSONResponse {
		return $this->answer(function () use ($user): array {
			if (!UserIdRule::isValid($user)) {
				throw new Refusal(400, "'" . mb_substr($user, 0, 80) . "' is not a Nextcloud user id.");
			}
			if (!$this->sidecar->stop($this->store->get(), $user, $this->adminId())) {
				throw new Refusal(404, "$user has no running server (it may have stopped already). Reload the list.");
			}
			return ['stopped' => true];
		});
	}

	private function adminId(): string {
		$id = (string)$this->access->currentUser()->getUID();
		return UserIdRule::isValid($id) ? $id : AdminClaims::SYSTEM_SUBJECT;
	}
}
