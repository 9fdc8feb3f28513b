<?php

declare(strict_types=1);

namespace OCA\NextPyter\Token;

/**
 * The claims of an admin token: Nextcloud's server side calling the sidecar's
 * API (sidecar/tokens.py, ADMIN_CLAIMS): iss, aud, sub, iat, nbf, exp, jti,
 * purpose "admin" and the API scopes the call needs, no more.
 */
final class AdminClaims {
	public const SCOPES = ['sessions:read', 'sessions:write', 'admin'];
	/** The subject of calls no person made (background jobs). */
	public const SYSTEM_SUBJECT = 'nextcloud';

	/**
	 * @param list<string> $scopes
	 * @return array{iss: string, aud: string, sub: string, iat: int, nbf: int, exp: int, jti: string, purpose: string, scopes: list<string>}
	 * @throws \InvalidArgumentException when a claim would break the contract
	 */
	public static function build(
		string $issuer,
		string $audience,
		string $subject,
		array $scopes,
		int $now,
		int $lifetime = LaunchClaims::LIFETIME,
		?string $jti = null,
	): array {
		$times = RegisteredClaims::times($now, $lifetime);
		if ($scopes === []) {
			throw new \InvalidArgumentException('an admin token needs at least one scope');
		}
		foreach ($scopes as $scope) {
			if (!in_array($scope, self::SCOPES, true)) {
				throw new \InvalidArgumentException("unknown API scope '$scope' (known: " . implode(', ', self::SCOPES) . ')');
			}
		}
		return [
			'iss' => RegisteredClaims::nonEmpty('issuer', $issuer),
			'aud' => RegisteredClaims::nonEmpty('audience', $audience),
			'sub' => UserIdRule::check($subject),
			'iat' => $times['iat'],
			'nbf' => $times['nbf'],
			'exp' => $times['exp'],
			'jti' => RegisteredClaims::jti($jti),
			'purpose' => 'admin',
			'scopes' => array_values(array_unique($scopes)),
		];
	}
}
