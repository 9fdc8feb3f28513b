<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Token;

use OCA\NextPyter\Token\KeyRing;
use PHPUnit\Framework\TestCase;

final class KeyRingTest extends TestCase {
	private const T0 = 1_700_000_000;

	/** @return list<string> */
	private static function kids(array $jwks): array {
		return array_column($jwks['keys'], 'kid');
	}

	public function testANewRingHasOneActiveKeyInItsJwks(): void {
		$ring = KeyRing::generate(self::T0);
		$this->assertSame([$ring->active()->kid()], self::kids($ring->jwks(self::T0)));
		$this->assertSame(1, $ring->keyCount());
	}

	public function testRotationSignsWithTheNewKeyAndKeepsTheOldOneForTenMinutes(): void {
		$old = KeyRing::generate(self::T0);
		$new = $old->rotate(self::T0 + 100);
		$this->assertNotSame($old->active()->kid(), $new->active()->kid());
		$this->assertSame([$new->active()->kid(), $old->active()->kid()], self::kids($new->jwks(self::T0 + 100)));
		$this->assertSame([$new->active()->kid(), $old->active()->kid()], self::kids($new->jwks(self::T0 + 100 + KeyRing::RETAIN_SECONDS - 1)));
		$this->assertSame([$new->active()->kid()], self::kids($new->jwks(self::T0 + 100 + KeyRing::RETAIN_SECONDS)));
	}

	public function testRetentionOutlivesEveryTokenTheOldKeySigned(): void {
		// A token lives at most 120 s; the sidecar allows 30 s of skew and caches the JWKS.
		$this->assertGreaterThanOrEqual(600, KeyRing::RETAIN_SECONDS);
	}

	public function testRotatingTwiceKeepsBothRecentKeysAndDropsExpiredOnes(): void {
		$a = KeyRing::generate(self::T0);
		$b = $a->rotate(self::T0 + 10);
		$c = $b->rotate(self::T0 + 20);
		$this->assertSame([$c->active()->kid(), $b->active()->kid(), $a->active()->kid()], self::kids($c->jwks(self::T0 + 20)));
		$d = $c->rotate(self::T0 + 10 + KeyRing::RETAIN_SECONDS);
		$this->assertSame([$d->active()->kid(), $c->active()->kid(), $b->active()->kid()], self::kids($d->jwks(self::T0 + 10 + KeyRing::RETAIN_SECONDS)));
		$this->assertSame(3, $d->keyCount());
	}

	public function testDescribeSaysWhenAReplacedKeyGoes(): void {
		$ring = KeyRing::generate(self::T0)->rotate(self::T0 + 5);
		$rows = $ring->describe(self::T0 + 5);
		$this->assertTrue($rows[0]['active']);
		$this->assertNull($rows[0]['dropsAt']);
		$this->assertFalse($rows[1]['active']);
		$this->assertSame(self::T0 + 5, $rows[1]['retiredAt']);
		$this->assertSame(self::T0 + 5 + KeyRing::RETAIN_SECONDS, $rows[1]['dropsAt']);
		$this->assertSame(self::T0, $rows[1]['created']);
	}

	public function testStoredFormRoundTripsKeysAndRetirement(): void {
		$ring = KeyRing::generate(self::T0)->rotate(self::T0 + 5);
		$json = json_encode($ring->toArray(), JSON_THROW_ON_ERROR);
		$back = KeyRing::fromArray(json_decode($json, true));
		$this->assertSame($ring->jwks(self::T0 + 5), $back->jwks(self::T0 + 5));
		$this->assertSame($ring->describe(self::T0 + 5), $back->describe(self::T0 + 5));
		$this->assertSame($ring->active()->sign('x'), $back->active()->sign('x'));
	}

	/** @return array<string, array{array<mixed>}> */
	public static function damagedRings(): array {
		$seed = rtrim(strtr(base64_encode(str_repeat('k', 32)), '+/', '-_'), '=');
		return [
			'no keys' => [['keys' => []]],
			'not a list' => [['keys' => 'x']],
			'no active key' => [['keys' => [['seed' => $seed, 'created' => 1, 'retiredAt' => 5]]]],
			'two active keys' => [['keys' => [['seed' => $seed, 'created' => 1, 'retiredAt' => null], ['seed' => $seed, 'created' => 2, 'retiredAt' => null]]]],
			'short seed' => [['keys' => [['seed' => 'abc', 'created' => 1, 'retiredAt' => null]]]],
			'seed not base64url' => [['keys' => [['seed' => '***', 'created' => 1, 'retiredAt' => null]]]],
			'created missing' => [['keys' => [['seed' => $seed, 'retiredAt' => null]]]],
			'retiredAt text' => [['keys' => [['seed' => $seed, 'created' => 1, 'retiredAt' => null], ['seed' => $seed, 'created' => 1, 'retiredAt' => 'soon']]]],
		];
	}

	/** @dataProvider damagedRings */
	public function testDamagedStoredRingsAreRefused(array $data): void {
		$this->expectException(\InvalidArgumentException::class);
		KeyRing::fromArray($data);
	}
}
