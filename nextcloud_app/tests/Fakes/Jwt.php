<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCA\NextPyter\Token\Base64Url;

/** Reads and verifies the tokens the app signs, against a JWKS, as the sidecar would. */
final class Jwt {
	/**
	 * @param array{keys: list<array<string, string>>} $jwks
	 * @return array{header: array<string, mixed>, claims: array<string, mixed>}
	 */
	public static function verify(string $token, array $jwks): array {
		[$header, $claims, $signature] = explode('.', $token);
		$head = json_decode(Base64Url::decode($header), true, 8, JSON_THROW_ON_ERROR);
		$key = null;
		foreach ($jwks['keys'] as $jwk) {
			if ($jwk['kid'] === $head['kid'] && $jwk['kty'] === 'OKP' && $jwk['crv'] === 'Ed25519') {
				$key = Base64Url::decode($jwk['x']);
			}
		}
		if ($key === null || $head['alg'] !== 'EdDSA'
			|| !sodium_crypto_sign_verify_detached(Base64Url::decode($signature), "$header.$claims", $key)) {
			throw new \RuntimeException('token not verified by the JWKS');
		}
		return ['header' => $head, 'claims' => json_decode(Base64Url::decode($claims), true, 8, JSON_THROW_ON_ERROR)];
	}
}
