<?php

declare(strict_types=1);

namespace OCA\NextPyter\Token;

/**
 * Signs claims into a compact JWT: EdDSA (Ed25519), the key's kid in the header.
 *
 * The sidecar pins the algorithm to EdDSA and looks the kid up in the JWKS this
 * app publishes (sidecar/tokens.py); nothing else in the header matters to it.
 */
final class TokenSigner {
	public const ALGORITHM = 'EdDSA';

	public function __construct(
		private SigningKey $key,
	) {
	}

	/**
	 * @param array<string, mixed> $claims
	 */
	public function sign(array $claims): string {
		$header = ['alg' => self::ALGORITHM, 'typ' => 'JWT', 'kid' => $this->key->kid()];
		$input = Base64Url::encode(self::json($header)) . '.' . Base64Url::encode(self::json($claims));
		return $input . '.' . Base64Url::encode($this->key->sign($input));
	}

	/**
	 * @param array<string, mixed> $value
	 */
	private static function json(array $value): string {
		return json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
	}
}
