<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Config;

use OCA\NextPyter\Config\Settings;
use OCA\NextPyter\Config\SettingsValidator;
use OCA\NextPyter\Refusal;
use PHPUnit\Framework\TestCase;

final class SettingsValidatorTest extends TestCase {
	private function validator(): SettingsValidator {
		return new SettingsValidator('https://cloud.example.com', static fn (string $g): bool => in_array($g, ['staff', 'students'], true));
	}

	/** @return array<string, mixed> */
	private static function good(): array {
		return [
			'sidecarUrl' => 'http://sidecar:8000/',
			'gatewayUrl' => 'https://jupyter.example.com/',
			'issuer' => '',
			'audience' => 'nextpyter-sidecar',
			'defaultImage' => 'registry.example.com/team/scipy:2024.1',
			'allowedImages' => ['registry.example.com/team/scipy:2024.1', 'registry.example.com/team/torch:2.3', ' '],
			'profiles' => [
				['name' => 'small', 'cpu' => 0.5, 'memory' => '512M', 'gpu' => 0],
				['name' => 'gpu', 'cpu' => 4, 'memory' => '16g', 'gpu' => 1, 'pids' => '4096'],
			],
			'defaultProfile' => 'small',
			'idleTimeout' => 3600,
			'maxLifetime' => 86400,
			'allowedGroups' => ['staff'],
		];
	}

	public function testGoodSettingsAreNormalised(): void {
		$settings = $this->validator()->validate(self::good(), Settings::defaults());
		$this->assertSame('http://sidecar:8000', $settings->sidecarUrl);
		$this->assertSame('https://jupyter.example.com', $settings->gatewayUrl);
		$this->assertSame('https://jupyter.example.com/api/v1/launch', $settings->launchAction());
		$this->assertSame(['registry.example.com/team/scipy:2024.1', 'registry.example.com/team/torch:2.3'], $settings->allowedImages);
		$this->assertSame('512m', $settings->profiles[0]->memory);
		$this->assertSame(4.0, $settings->profiles[1]->cpu);
		$this->assertSame(4096, $settings->profiles[1]->pids);
		$this->assertSame(1024, $settings->profiles[0]->pids); // not given: the default
		$this->assertSame(['small', 'gpu'], $settings->profileNames());
	}

	public function testMissingFieldsKeepTheirCurrentValue(): void {
		$current = $this->validator()->validate(self::good(), Settings::defaults());
		$changed = $this->validator()->validate(['idleTimeout' => 600], $current);
		$this->assertSame(600, $changed->idleTimeout);
		$this->assertEquals($current->profiles, $changed->profiles);
		$this->assertSame($current->gatewayUrl, $changed->gatewayUrl);
	}

	public function testTheStoredFormValidatesBackToTheSameSettings(): void {
		$settings = $this->validator()->validate(self::good(), Settings::defaults());
		$again = (new SettingsValidator())->validate(json_decode(json_encode($settings->toArray()), true), Settings::defaults());
		$this->assertEquals($settings, $again);
	}

	/** @return array<string, array{string, mixed, string}> */
	public static function badValues(): array {
		return [
			'sidecar not a URL' => ['sidecarUrl', 'sidecar:8000', 'http:// or https://'],
			'sidecar ftp' => ['sidecarUrl', 'ftp://sidecar', 'http:// or https://'],
			'sidecar with query' => ['sidecarUrl', 'http://sidecar/?x=1', '?query'],
			'sidecar with password' => ['sidecarUrl', 'http://u:p@sidecar', 'password'],
			'gateway is Nextcloud' => ['gatewayUrl', 'https://CLOUD.example.com:443/', "Nextcloud's own origin"],
			'gateway with a path' => ['gatewayUrl', 'https://jupyter.example.com/lab', 'without a path'],
			'gateway javascript' => ['gatewayUrl', 'javascript:alert(1)', 'http:// or https://'],
			'gateway not text' => ['gatewayUrl', 5, 'must be text'],
			'audience with spaces' => ['audience', 'next pyter', 'Token audience'],
			'image upper case' => ['allowedImages', ['Registry/Scipy'], 'not an image reference'],
			'images not a list' => ['allowedImages', 'scipy', 'must be a list'],
			'default image not allowed' => ['defaultImage', 'other/image:1', 'must be one of the allowed images'],
			'no profiles' => ['profiles', [], '1 to 32 profiles'],
			'profiles as a map' => ['profiles', ['small' => ['cpu' => 1, 'memory' => '1g', 'gpu' => 0]], '1 to 32 profiles'],
			'profile name upper case' => ['profiles', [['name' => 'Big', 'cpu' => 1, 'memory' => '1g', 'gpu' => 0]], 'the name must be'],
			'profile name too long' => ['profiles', [['name' => str_repeat('a', 33), 'cpu' => 1, 'memory' => '1g', 'gpu' => 0]], 'the name must be'],
			'profile twice' => ['profiles', [['name' => 'a', 'cpu' => 1, 'memory' => '1g', 'gpu' => 0], ['name' => 'a', 'cpu' => 1, 'memory' => '1g', 'gpu' => 0]], 'listed twice'],
			'cpu zero' => ['profiles', [['name' => 'a', 'cpu' => 0, 'memory' => '1g', 'gpu' => 0]], 'cpu must be'],
			'cpu negative' => ['profiles', [['name' => 'a', 'cpu' => -1, 'memory' => '1g', 'gpu' => 0]], 'cpu must be'],
			'cpu text' => ['profiles', [['name' => 'a', 'cpu' => 'lots', 'memory' => '1g', 'gpu' => 0]], 'cpu must be'],
			'memory without unit' => ['profiles', [['name' => 'a', 'cpu' => 1, 'memory' => '2048', 'gpu' => 0]], 'memory must be'],
			'memory fraction' => ['profiles', [['name' => 'a', 'cpu' => 1, 'memory' => '1.5g', 'gpu' => 0]], 'memory must be'],
			'gpu negative' => ['profiles', [['name' => 'a', 'cpu' => 1, 'memory' => '1g', 'gpu' => -1]], 'gpu must be'],
			'gpu fraction' => ['profiles', [['name' => 'a', 'cpu' => 1, 'memory' => '1g', 'gpu' => 0.5]], 'gpu must be'],
			'processes too few' => ['profiles', [['name' => 'a', 'cpu' => 1, 'memory' => '1g', 'gpu' => 0, 'pids' => 63]], 'processes must be'],
			'processes too many' => ['profiles', [['name' => 'a', 'cpu' => 1, 'memory' => '1g', 'gpu' => 0, 'pids' => 1000001]], 'processes must be'],
			'processes fraction' => ['profiles', [['name' => 'a', 'cpu' => 1, 'memory' => '1g', 'gpu' => 0, 'pids' => 100.5]], 'processes must be'],
			'processes text' => ['profiles', [['name' => 'a', 'cpu' => 1, 'memory' => '1g', 'gpu' => 0, 'pids' => 'many']], 'processes must be'],
			'default profile unknown' => ['defaultProfile', 'huge', 'must be one of the profiles'],
			'idle timeout negative' => ['idleTimeout', -1, 'Idle timeout'],
			'idle timeout text' => ['idleTimeout', 'an hour', 'Idle timeout'],
			'lifetime over a year' => ['maxLifetime', 366 * 86400, 'Maximum lifetime'],
			'unknown group' => ['allowedGroups', ['staff', 'nobody'], "no group 'nobody'"],
			'groups not a list' => ['allowedGroups', 'staff', 'must be a list'],
			'remote images as text' => ['remoteImages', 'yes', 'Remote images in notebook previews must be on or off'],
			'remote images as a number' => ['remoteImages', 1, 'must be on or off'],
		];
	}

	public function testRemoteImagesInPreviewsAreOffUntilTheAdminTurnsThemOn(): void {
		$this->assertFalse(Settings::defaults()->remoteImages);
		$this->assertFalse($this->validator()->validate(self::good(), Settings::defaults())->remoteImages);
		$on = $this->validator()->validate(['remoteImages' => true] + self::good(), Settings::defaults());
		$this->assertTrue($on->remoteImages);
		$this->assertTrue($on->toArray()['remoteImages']);
		$this->assertTrue($this->validator()->validate([], $on)->remoteImages, 'kept when left out');
		$this->assertArrayNotHasKey('remoteImages', $on->sidecarConfig(), 'the sidecar has no use for it');
	}

	/** @dataProvider badValues */
	public function testBadValuesAreRefusedWithAMessageNamingTheField(string $field, mixed $value, string $message): void {
		$input = self::good();
		$input[$field] = $value;
		try {
			$this->validator()->validate($input, Settings::defaults());
			$this->fail("accepted $field = " . json_encode($value));
		} catch (Refusal $refusal) {
			$this->assertSame(400, $refusal->status());
			$this->assertArrayHasKey($field, $refusal->details());
			$this->assertStringContainsString($message, $refusal->details()[$field]);
			$this->assertStringStartsWith('The settings were not saved: ', $refusal->getMessage());
		}
	}

	public function testEveryBadFieldIsNamedAtOnce(): void {
		$input = ['sidecarUrl' => 'nope', 'idleTimeout' => -5, 'allowedGroups' => ['nobody']];
		try {
			$this->validator()->validate($input, Settings::defaults());
			$this->fail('accepted');
		} catch (Refusal $refusal) {
			$this->assertSame(['sidecarUrl', 'idleTimeout', 'allowedGroups'], array_keys($refusal->details()));
		}
	}

	public function testGatewayOnAnotherPortOrHostOfNextcloudIsFine(): void {
		foreach (['https://cloud.example.com:8443', 'http://cloud.example.com', 'https://jupyter.cloud.example.com'] as $url) {
			$this->assertSame($url, $this->validator()->validate(['gatewayUrl' => $url], Settings::defaults())->gatewayUrl);
		}
	}

	public function testEmptyUrlsMeanNotConfigured(): void {
		$settings = $this->validator()->validate(['sidecarUrl' => ' ', 'gatewayUrl' => ''], Settings::defaults());
		$this->assertFalse($settings->sidecarConfigured());
		$this->assertFalse($settings->gatewayConfigured());
	}

	public function testOrigins(): void {
		$this->assertSame('https://a.example', SettingsValidator::origin('HTTPS://A.example:443/x'));
		$this->assertSame('http://a.example:8080', SettingsValidator::origin('http://a.example:8080'));
		$this->assertNull(SettingsValidator::origin('not a url'));
	}

	public function testDefaultsLeftOutFollowAChangedList(): void {
		$current = $this->validator()->validate(self::good(), Settings::defaults());
		$changed = $this->validator()->validate([
			'profiles' => [['name' => 'tiny', 'cpu' => 0.25, 'memory' => '256m', 'gpu' => 0]],
			'allowedImages' => ['scipy:2'],
		], $current);
		$this->assertSame('tiny', $changed->defaultProfile);
		$this->assertSame('scipy:2', $changed->defaultImage);
		$kept = $this->validator()->validate(['profiles' => [['name' => 'gpu', 'cpu' => 1, 'memory' => '1g', 'gpu' => 1], ['name' => 'small', 'cpu' => 1, 'memory' => '1g', 'gpu' => 0]]], $current);
		$this->assertSame('small', $kept->defaultProfile);
	}
}
