<?php

declare(strict_types=1);

namespace OCP\AppFramework;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
abstract class Controller {
	/** @var string */
	protected $appName;
	/** @var \OCP\IRequest */
	protected $request;

	public function __construct(string $appName, \OCP\IRequest $request) {
		$this->appName = $appName;
		$this->request = $request;
	}
}
