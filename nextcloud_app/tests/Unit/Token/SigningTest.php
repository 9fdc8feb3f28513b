<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Token;

use OCA\NextPyter\Token\Base64Url;
use OCA\NextPyter\Token\SigningKey;
use OCA\NextPyter\Token\TokenSigner;
use PHPUnit\Framework\TestCase;

/** Ed25519 keys, kids, JWKs and compact JWTs, checked against RFC 8037's example. */
final class SigningTest extends TestCase {
	// RFC 8037, appendix A.1-A.4: the Ed25519 key and the signature of its example JWS.
	private const SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
	private const X = '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo';
	private const JWS_INPUT = 'eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc';
	private const JWS_SIGNATURE = 'hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg';

	private function rfcKey(): SigningKey {
		return SigningKey::fromSeed((string)hex2bin(self::SEED), 1_700_000_000);
	}

	public function testPublicKeyAndSignatureMatchRfc8037(): void {
		$key = $this->rfcKey();
		$this->assertSame(self::X, Base64Url::encode($key->publicKey()));
		$this->assertSame(self::JWS_SIGNATURE, Base64Url::encode($key->sign(self::JWS_INPUT)));
	}

	public function testKidIsTheStartOfTheUnpaddedBase64UrlSha256OfThePublicKey(): void {
		$key = $this->rfcKey();
		$expected = substr(rtrim(strtr(base64_encode(hash('sha256', (string)hex2bin('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'), true)), '+/', '-_'), '='), 0, 16);
		$this->assertSame($expected, $key->kid());
		$this->assertMatchesRegularExpression('/\A[A-Za-z0-9_-]{16}\z/', $key->kid());
	}

	public function testPublicJwkHasDevkeysFieldsInDevkeysOrder(): void {
		$jwk = $this->rfcKey()->publicJwk();
		$this->assertSame(['kty', 'crv', 'x', 'use', 'alg', 'kid'], array_keys($jwk));
		$this->assertSame(['OKP', 'Ed25519', self::X, 'sig', 'EdDSA'], array_slice(array_values($jwk), 0, 5));
	}

	public function testGeneratedKeysDiffer(): void {
		$this->assertNotSame(SigningKey::generate(1)->kid(), SigningKey::generate(1)->kid());
	}

	public function testSeedMustHave32Bytes(): void {
		$this->expectException(\InvalidArgumentException::class);
		SigningKey::fromSeed('short', 1);
	}

	public function testJwtHeaderClaimsAndSignature(): void {
		$key = $this->rfcKey();
		$token = (new TokenSigner($key))->sign(['sub' => 'alice', 'path' => 'a/ü b.ipynb', 'iat' => 5]);
		$parts = explode('.', $token);
		$this->assertCount(3, $parts);
		$this->assertSame(['alg' => 'EdDSA', 'typ' => 'JWT', 'kid' => $key->kid()], json_decode(Base64Url::decode($parts[0]), true));
		$this->assertSame(['sub' => 'alice', 'path' => 'a/ü b.ipynb', 'iat' => 5], json_decode(Base64Url::decode($parts[1]), true));
		$this->assertTrue(sodium_crypto_sign_verify_detached(Base64Url::decode($parts[2]), $parts[0] . '.' . $parts[1], $key->publicKey()));
		$this->assertStringNotContainsString('=', $token);
	}

	public function testBase64UrlRoundTripAndRefusals(): void {
		foreach (['', "\0", "\xff\xfe\xfd", random_bytes(33)] as $bytes) {
			$this->assertSame($bytes, Base64Url::decode(Base64Url::encode($bytes)));
		}
		foreach (['a+b', 'ab=', 'a'] as $bad) {
			try {
				Base64Url::decode($bad);
				$this->fail("decoded '$bad'");
			} catch (\InvalidArgumentException) {
				$this->addToAssertionCount(1);
			}
		}
	}
}
