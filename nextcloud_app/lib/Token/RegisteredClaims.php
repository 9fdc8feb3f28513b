<?php

declare(strict_types=1);

namespace OCA\NextPyter\Token;

/** The rules launch and admin tokens share: times, token id, non-empty strings. */
final class RegisteredClaims {
	private const JTI_PATTERN = '/\A[A-Za-z0-9_-]{16,128}\z/';

	/**
	 * @return array{iat: int, nbf: int, exp: int}
	 */
	public static function times(int $now, int $lifetime): array {
		if ($lifetime < 1 || $lifetime > LaunchClaims::MAX_LIFETIME) {
			throw new \InvalidArgumentException('a token lives 1 to ' . LaunchClaims::MAX_LIFETIME . ' seconds');
		}
		return ['iat' => $now, 'nbf' => $now, 'exp' => $now + $lifetime];
	}

	public static function jti(?string $jti): string {
		$jti ??= Jti::random();
		if (preg_match(self::JTI_PATTERN, $jti) !== 1) {
			throw new \InvalidArgumentException('a token id (jti) has 16-128 characters of A-Z a-z 0-9 _ -');
		}
		return $jti;
	}

	public static function nonEmpty(string $what, string $value): string {
		if (trim($value) === '') {
			throw new \InvalidArgumentException("the token $what is empty");
		}
		return $value;
	}
}
