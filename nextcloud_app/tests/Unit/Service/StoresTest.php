<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Service;

use OCA\NextPyter\Config\Settings;
use OCA\NextPyter\Token\KeyRing;
use OCA\NextPyter\Tests\Fakes\Harness;
use PHPUnit\Framework\TestCase;

final class StoresTest extends TestCase {
	public function testTheFirstKeyIsMadeOnFirstUseAndStoredSensitiveAndLazy(): void {
		$h = new Harness();
		$this->assertFalse($h->keys->exists());
		$kid = $h->keys->ring()->active()->kid();
		$this->assertTrue($h->keys->exists());
		$this->assertSame($kid, $h->keys->ring()->active()->kid());
		$stored = $h->appConfig->values['signing_keys'];
		$this->assertTrue($stored['sensitive']);
		$this->assertTrue($stored['lazy']);
		$this->assertStringNotContainsString($kid, $stored['value'], 'the stored form holds seeds, the kid is derived');
	}

	public function testRotationIsStoredAndExpiredKeysArePrunedOnUse(): void {
		$h = new Harness();
		$first = $h->keys->ring()->active()->kid();
		$h->clock->now += 30;
		$second = $h->keys->rotate()->active()->kid();
		$this->assertSame([$second, $first], array_column($h->keys->ring()->jwks($h->clock->now)['keys'], 'kid'));
		$h->clock->now += KeyRing::RETAIN_SECONDS;
		$this->assertSame(1, $h->keys->ring()->keyCount());
		$this->assertCount(1, json_decode($h->appConfig->values['signing_keys']['value'], true)['keys']);
	}

	public function testADamagedKeyIsReportedWithWhatToDo(): void {
		$h = new Harness();
		$h->appConfig->setAppValueString('signing_keys', '{"keys": "x"}', lazy: true, sensitive: true);
		try {
			$h->keys->ring();
			$this->fail('used a damaged key ring');
		} catch (\RuntimeException $error) {
			$this->assertStringContainsString('Rotate the key in Administration settings', $error->getMessage());
		}
		$this->assertSame(1, $h->keys->rotate()->keyCount(), 'rotation replaces a damaged ring');
	}

	public function testSettingsRoundTripAndFallBackToDefaults(): void {
		$h = new Harness();
		$this->assertEquals(Settings::defaults(), $h->store->get());
		$saved = $h->configure(['idleTimeout' => 120]);
		$this->assertTrue($h->appConfig->values['settings']['lazy']);
		$fresh = new \OCA\NextPyter\Service\SettingsStore($h->appConfig, $h->urls);
		$this->assertEquals($saved, $fresh->get());
		$h->appConfig->setAppValueString('settings', '{"idleTimeout": -1}', lazy: true);
		$this->assertEquals(Settings::defaults(), (new \OCA\NextPyter\Service\SettingsStore($h->appConfig, $h->urls))->get());
	}

	public function testIssuerDefaultsToNextcloudsBaseUrl(): void {
		$h = new Harness();
		$this->assertSame('https://cloud.example.com', $h->store->issuer($h->configure()));
		$this->assertSame('https://nc.internal', $h->store->issuer($h->configure(['issuer' => 'https://nc.internal/'])));
		$this->assertSame('https://cloud.example.com/apps/nextpyter/jwks.json', $h->store->jwksUrl());
	}

	public function testTokensVerifyAgainstTheJwks(): void {
		$h = new Harness();
		$settings = $h->configure(['audience' => 'aud-1']);
		$launch = $h->verify($h->tokens->launchToken($settings, 'alice', 'a.ipynb', 'default'));
		$this->assertSame($h->keys->ring()->active()->kid(), $launch['header']['kid']);
		$this->assertSame(['https://cloud.example.com', 'aud-1', 'alice', 'a.ipynb'], [$launch['claims']['iss'], $launch['claims']['aud'], $launch['claims']['sub'], $launch['claims']['path']]);
		$admin = $h->verify($h->tokens->adminToken($settings, 'nextcloud', ['admin']));
		$this->assertSame(['admin', ['admin']], [$admin['claims']['purpose'], $admin['claims']['scopes']]);
	}
}
