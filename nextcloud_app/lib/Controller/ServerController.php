<?php

declare(strict_types=1);

namespace OCA\NextPyter\Controller;

use OCA\NextPyter\Service\ServerState;
use OCA\NextPyter\Service\SettingsStore;
use OCA\NextPyter\Service\SidecarClient;
use OCA\NextPyter\Service\UserAccess;
use OCP\AppFramework\Http\Attribute\FrontpageRoute;
use OCP\AppFramework\Http\Attribute\NoAdminRequired;
use OCP\AppFramework\Http\JSONResponse;
use OCP\IRequest;

/**
 * The current user's own server, for the personal settings page. No group check:
 * a user removed from the allowed groups can still see and stop a server.
 */
final class ServerController extends JsonController {
	public function __construct(
		IRequest $request,
		private SettingsStore $store,
		private UserAccess $access,
		private SidecarClient $sidecar,
	) {
		parent::__construct($request);
	}

	/** → `{running, state, since, profile}` (state "stopped" and nulls when none runs). */
	#[NoAdminRequired]
	#[FrontpageRoute(verb: 'GET', url: '/server')]
	public function status(): JSONResponse {
		return $this->answer(function (): array {
			$userId = (string)$this->access->currentUser()->getUID();
			return ServerState::of($this->sidecar->session($this->store->get(), $userId, $userId));
		});
	}

	/** Stops the server (unsaved work in open notebooks is lost) → the stopped state. */
	#[NoAdminRequired]
	#[FrontpageRoute(verb: 'DELETE', url: '/server')]
	public function stop(): JSONResponse {
		return $this->answer(function (): array {
			$userId = (string)$this->access->currentUser()->getUID();
			$this->sidecar->stop($this->store->get(), $userId, $userId);
			return ServerState::of(null);
		});
	}
}
