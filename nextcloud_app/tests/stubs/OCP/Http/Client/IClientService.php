<?php

declare(strict_types=1);

namespace OCP\Http\Client;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IClientService {
	public function newClient(): IClient;
}
