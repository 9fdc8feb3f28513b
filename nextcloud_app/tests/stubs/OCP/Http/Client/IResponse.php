<?php

declare(strict_types=1);

namespace OCP\Http\Client;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IResponse {
	public function getBody();

	public function getStatusCode(): int;

	public function getHeader(string $key): string;

	public function getHeaders(): array;
}
