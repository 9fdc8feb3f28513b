<?php

declare(strict_types=1);

namespace OCA\NextPyter\Controller;

use OCA\NextPyter\Service\KeyStore;
use OCP\AppFramework\Http\Attribute\FrontpageRoute;
use OCP\AppFramework\Http\Attribute\NoCSRFRequired;
use OCP\AppFramework\Http\Attribute\PublicPage;
use OCP\AppFramework\Http\JSONResponse;
use OCP\AppFramework\Utility\ITimeFactory;
use OCP\IRequest;

/**
 * The public keys that verify this app's tokens, for the sidecar's NEXTPYTER_JWKS.
 * Public: they are public keys. Not cached by HTTP: after a rotation the sidecar
 * must get the new key at its next fetch (it caches the set itself).
 */
final class JwksController extends JsonController {
	public function __construct(
		IRequest $request,
		private KeyStore $keys,
		private ITimeFactory $time,
	) {
		parent::__construct($request);
	}

	#[PublicPage]
	#[NoCSRFRequired]
	#[FrontpageRoute(verb: 'GET', url: '/jwks.json')]
	public function keys(): JSONResponse {
		return new JSONResponse($this->keys->ring()->jwks($this->time->getTime()));
	}
}
