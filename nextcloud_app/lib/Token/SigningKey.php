<?php

declare(strict_types=1);

namespace OCA\NextPyter\Token;

/**
 * One Ed25519 key pair, kept as its 32-byte seed (the private part) and the
 * time it was made.
 *
 * Its kid and public JWK are exactly what sidecar/devkeys.py:public_jwk makes:
 * kid = the first 16 characters of base64url(sha256(raw public key)), so the
 * same key always has the same kid, in PHP and in Python.
 */
final class SigningKey {
	public const SEED_BYTES = SODIUM_CRYPTO_SIGN_SEEDBYTES;

	private string $seed;
	private string $publicKey;
	private string $kid;
	private int $created;

	private function __construct(string $seed, int $created) {
		if (strlen($seed) !== self::SEED_BYTES) {
			throw new \InvalidArgumentException('an Ed25519 seed has 32 bytes');
		}
		$this->seed = $seed;
		$this->created = $created;
		$this->publicKey = sodium_crypto_sign_publickey(sodium_crypto_sign_seed_keypair($seed));
		$this->kid = substr(Base64Url::encode(hash('sha256', $this->publicKey, true)), 0, 16);
	}

	public static function generate(int $now): self {
		return new self(random_bytes(self::SEED_BYTES), $now);
	}

	public static function fromSeed(string $seed, int $created): self {
		return new self($seed, $created);
	}

	public function kid(): string {
		return $this->kid;
	}

	public function created(): int {
		return $this->created;
	}

	public function seed(): string {
		return $this->seed;
	}

	public function publicKey(): string {
		return $this->publicKey;
	}

	/** The detached Ed25519 signature of $message (64 bytes). */
	public function sign(string $message): string {
		$secret = sodium_crypto_sign_secretkey(sodium_crypto_sign_seed_keypair($this->seed));
		try {
			return sodium_crypto_sign_detached($message, $secret);
		} finally {
			sodium_memzero($secret);
		}
	}

	/**
	 * The public half as a JWK (RFC 8037), in devkeys.public_jwk's key order.
	 *
	 * @return array{kty: string, crv: string, x: string, use: string, alg: string, kid: string}
	 */
	public function publicJwk(): array {
		return [
			'kty' => 'OKP',
			'crv' => 'Ed25519',
			'x' => Base64Url::encode($this->publicKey),
			'use' => 'sig',
			'alg' => 'EdDSA',
			'kid' => $this->kid,
		];
	}
}
