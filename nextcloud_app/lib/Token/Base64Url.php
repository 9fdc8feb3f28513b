<?php

declare(strict_types=1);

namespace OCA\NextPyter\Token;

/**
 * Unpadded base64url (RFC 7515, section 2), the encoding of every JWT and JWK part.
 */
final class Base64Url {
	public static function encode(string $bytes): string {
		return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
	}

	/**
	 * @throws \InvalidArgumentException when $text is not unpadded base64url
	 */
	public static function decode(string $text): string {
		if (preg_match('/\A[A-Za-z0-9_-]*\z/', $text) !== 1 || strlen($text) % 4 === 1) {
			throw new \InvalidArgumentException('not base64url text');
		}
		$bytes = base64_decode(strtr($text, '-_', '+/'), true);
		if ($bytes === false) {
			throw new \InvalidArgumentException('not base64url text');
		}
		return $bytes;
	}
}
