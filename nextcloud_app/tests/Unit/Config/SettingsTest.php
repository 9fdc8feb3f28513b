<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Config;

use OCA\NextPyter\Config\Availability;
use OCA\NextPyter\Config\Settings;
use OCA\NextPyter\Config\SettingsValidator;
use PHPUnit\Framework\TestCase;

final class SettingsTest extends TestCase {
	public function testTheSidecarConfigIsTheBodyOfPutApiV1Config(): void {
		$settings = (new SettingsValidator())->validate([
			'profiles' => [
				['name' => '0', 'cpu' => 1, 'memory' => '2g', 'gpu' => 0],
				['name' => 'gpu', 'cpu' => 8.5, 'memory' => '32G', 'gpu' => 2],
			],
			'defaultProfile' => 'gpu',
			'allowedImages' => ['scipy:1'],
			'defaultImage' => 'scipy:1',
			'idleTimeout' => 1800,
			'maxLifetime' => 0,
		], Settings::defaults());
		$json = $settings->sidecarConfigJson();
		$this->assertSame(
			'{"profiles":{"0":{"cpu":1.0,"memory":"2g","gpu":0,"pids":1024},"gpu":{"cpu":8.5,"memory":"32g","gpu":2,"pids":1024}},'
			. '"default_profile":"gpu","default_image":"scipy:1","allowed_images":["scipy:1"],"idle_timeout":1800,"max_lifetime":0}',
			$json,
		);
	}

	public function testDefaultsAreUsableButNotConfigured(): void {
		$settings = Settings::defaults();
		$this->assertSame(['default'], $settings->profileNames());
		$this->assertSame('nextpyter-sidecar', $settings->audience);
		$this->assertSame('https://cloud.example.com', $settings->issuerOr('https://cloud.example.com'));
		$this->assertFalse($settings->gatewayConfigured());
	}

	public function testGroupsRestrictOnlyWhenSet(): void {
		$open = Settings::defaults();
		$this->assertTrue($open->allowsGroups([]));
		$closed = (new SettingsValidator())->validate(['allowedGroups' => ['staff']], $open);
		$this->assertFalse($closed->allowsGroups([]));
		$this->assertFalse($closed->allowsGroups(['students']));
		$this->assertTrue($closed->allowsGroups(['students', 'staff']));
	}

	public function testAvailabilitySaysWhatToDo(): void {
		$this->assertSame(['enabled' => false, 'message' => Availability::NOT_CONFIGURED], Availability::of(Settings::defaults(), [])->jsonSerialize());
		$configured = (new SettingsValidator())->validate(['gatewayUrl' => 'https://j.example', 'allowedGroups' => ['staff']], Settings::defaults());
		$this->assertSame(['enabled' => false, 'message' => Availability::NOT_ALLOWED], Availability::of($configured, ['students'])->jsonSerialize());
		$this->assertSame(['enabled' => true, 'message' => null], Availability::of($configured, ['staff'])->jsonSerialize());
		$this->assertStringContainsString('Ask your administrator', Availability::NOT_ALLOWED);
	}
}
