<?php

declare(strict_types=1);

namespace OCA\NextPyter\Token;

use OCA\NextPyter\Files\PathRules;

/**
 * The claims of a launch token, exactly as sidecar/tokens.py (REQUIRED_CLAIMS)
 * verifies them: iss, aud, sub, iat, nbf, exp, jti, path, profile.
 *
 * The token lives LIFETIME seconds (the sidecar refuses more than 120): long
 * enough for the browser's form POST, short enough that a token copied out of
 * a page is useless soon after. Its jti is single use.
 */
final class LaunchClaims {
	public const LIFETIME = 60;
	public const MAX_LIFETIME = 120;
	public const PROFILE_PATTERN = '/\A[a-z0-9][a-z0-9_-]{0,31}\z/';

	/**
	 * @param string $path relative to the user's files folder ("" for the folder itself)
	 * @return array{iss: string, aud: string, sub: string, iat: int, nbf: int, exp: int, jti: string, path: string, profile: string}
	 * @throws \InvalidArgumentException when a claim would break the contract
	 */
	public static function build(
		string $issuer,
		string $audience,
		string $userId,
		string $path,
		string $profile,
		int $now,
		int $lifetime = self::LIFETIME,
		?string $jti = null,
	): array {
		$times = RegisteredClaims::times($now, $lifetime);
		if (preg_match(self::PROFILE_PATTERN, $profile) !== 1) {
			throw new \InvalidArgumentException('a profile name has 1-32 characters of a-z 0-9 _ -');
		}
		return [
			'iss' => RegisteredClaims::nonEmpty('issuer', $issuer),
			'aud' => RegisteredClaims::nonEmpty('audience', $audience),
			'sub' => UserIdRule::check($userId),
			'iat' => $times['iat'],
			'nbf' => $times['nbf'],
			'exp' => $times['exp'],
			'jti' => RegisteredClaims::jti($jti),
			'path' => PathRules::checkRelative($path),
			'profile' => $profile,
		];
	}
}
