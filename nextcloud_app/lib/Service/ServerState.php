<?php

declare(strict_types=1);

namespace OCA\NextPyter\Service;

/**
 * A user's server as the pages show it, from the sidecar's Server object
 * (sidecar/openapi.json: user_id, slug, profile, state, created, detail).
 */
final class ServerState {
	/**
	 * @param array<string, mixed>|null $server null: no server runs
	 * @return array{running: bool, state: string, since: ?int, profile: ?string}
	 */
	public static function of(?array $server): array {
		if ($server === null) {
			return ['running' => false, 'state' => 'stopped', 'since' => null, 'profile' => null];
		}
		$state = is_string($server['state'] ?? null) ? $server['state'] : 'running';
		$created = $server['created'] ?? null;
		return [
			'running' => in_array($state, ['starting', 'running'], true),
			'state' => $state,
			'since' => is_int($created) || is_float($created) ? (int)$created : null,
			'profile' => is_string($server['profile'] ?? null) ? $server['profile'] : null,
		];
	}
}
