<?php

declare(strict_types=1);

namespace OCP\Http\Client;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IClient {
	public function get(string $uri, array $options = []): IResponse;

	public function put(string $uri, array $options = []): IResponse;

	public function delete(string $uri, array $options = []): IResponse;
}
