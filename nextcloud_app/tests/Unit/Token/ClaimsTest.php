<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Token;

use OCA\NextPyter\Token\AdminClaims;
use OCA\NextPyter\Token\Jti;
use OCA\NextPyter\Token\LaunchClaims;
use OCA\NextPyter\Token\UserIdRule;
use PHPUnit\Framework\TestCase;

/** The claim sets of sidecar/tokens.py: REQUIRED_CLAIMS and ADMIN_CLAIMS. */
final class ClaimsTest extends TestCase {
	private const NOW = 1_700_000_000;

	public function testLaunchClaimsAreExactlyTheContract(): void {
		$claims = LaunchClaims::build('https://cloud.example.com', 'nextpyter-sidecar', 'alice', 'work/a.ipynb', 'default', self::NOW);
		$this->assertSame(['iss', 'aud', 'sub', 'iat', 'nbf', 'exp', 'jti', 'path', 'profile'], array_keys($claims));
		$this->assertSame('https://cloud.example.com', $claims['iss']);
		$this->assertSame('nextpyter-sidecar', $claims['aud']);
		$this->assertSame('alice', $claims['sub']);
		$this->assertSame(self::NOW, $claims['iat']);
		$this->assertSame(self::NOW, $claims['nbf']);
		$this->assertSame(self::NOW + 60, $claims['exp']);
		$this->assertSame('work/a.ipynb', $claims['path']);
		$this->assertSame('default', $claims['profile']);
		$this->assertMatchesRegularExpression('/\A[A-Za-z0-9_-]{24}\z/', $claims['jti']);
	}

	public function testLaunchPathIsNormalisedAndTheFilesRootIsEmpty(): void {
		$this->assertSame('a/b.ipynb', LaunchClaims::build('i', 'a', 'bob', './a//b.ipynb', 'gpu-1', self::NOW)['path']);
		$this->assertSame('', LaunchClaims::build('i', 'a', 'bob', '', 'gpu-1', self::NOW)['path']);
	}

	public function testEveryTokenHasItsOwnId(): void {
		$ids = [];
		for ($i = 0; $i < 50; $i++) {
			$ids[] = Jti::random();
		}
		$this->assertCount(50, array_unique($ids));
	}

	/** @return array<string, array{\Closure(): mixed}> */
	public static function brokenLaunchClaims(): array {
		return [
			'lifetime over two minutes' => [fn () => LaunchClaims::build('i', 'a', 'alice', '', 'default', self::NOW, 121)],
			'lifetime zero' => [fn () => LaunchClaims::build('i', 'a', 'alice', '', 'default', self::NOW, 0)],
			'empty issuer' => [fn () => LaunchClaims::build(' ', 'a', 'alice', '', 'default', self::NOW)],
			'empty audience' => [fn () => LaunchClaims::build('i', '', 'alice', '', 'default', self::NOW)],
			'bad user id' => [fn () => LaunchClaims::build('i', 'a', 'al/ice', '', 'default', self::NOW)],
			'absolute path' => [fn () => LaunchClaims::build('i', 'a', 'alice', '/etc/passwd', 'default', self::NOW)],
			'dot-dot path' => [fn () => LaunchClaims::build('i', 'a', 'alice', 'a/../../b', 'default', self::NOW)],
			'upper-case profile' => [fn () => LaunchClaims::build('i', 'a', 'alice', '', 'Default', self::NOW)],
			'short jti' => [fn () => LaunchClaims::build('i', 'a', 'alice', '', 'default', self::NOW, 60, 'abc')],
		];
	}

	/** @dataProvider brokenLaunchClaims */
	public function testClaimsTheSidecarWouldRefuseAreNeverBuilt(\Closure $build): void {
		$this->expectException(\InvalidArgumentException::class);
		$build();
	}

	public function testAdminClaimsAreExactlyTheContract(): void {
		$claims = AdminClaims::build('https://cloud.example.com', 'nextpyter-sidecar', 'nextcloud', ['sessions:read', 'sessions:read'], self::NOW);
		$this->assertSame(['iss', 'aud', 'sub', 'iat', 'nbf', 'exp', 'jti', 'purpose', 'scopes'], array_keys($claims));
		$this->assertSame('admin', $claims['purpose']);
		$this->assertSame(['sessions:read'], $claims['scopes']);
		$this->assertSame(self::NOW + 60, $claims['exp']);
	}

	public function testAdminScopesMustBeKnownAndPresent(): void {
		foreach ([[], ['root']] as $scopes) {
			try {
				AdminClaims::build('i', 'a', 'nextcloud', $scopes, self::NOW);
				$this->fail('built an admin token with scopes ' . json_encode($scopes));
			} catch (\InvalidArgumentException) {
				$this->addToAssertionCount(1);
			}
		}
	}

	/** @return array<string, array{string, bool}> */
	public static function userIds(): array {
		return [
			'plain' => ['alice', true],
			'email' => ['alice@example.com', true],
			'every allowed character' => ["A-z_0.9@'x y", true],
			'64 characters' => [str_repeat('a', 64), true],
			'65 characters' => [str_repeat('a', 65), false],
			'empty' => ['', false],
			'slash' => ['a/b', false],
			'leading space' => [' alice', false],
			'trailing space' => ['alice ', false],
			'dot' => ['.', false],
			'dot dot' => ['..', false],
			'umlaut' => ['jürgen', false],
			'newline' => ["alice\n", false],
		];
	}

	/** @dataProvider userIds */
	public function testUserIdRuleIsTheSidecars(string $id, bool $valid): void {
		$this->assertSame($valid, UserIdRule::isValid($id));
	}
}
