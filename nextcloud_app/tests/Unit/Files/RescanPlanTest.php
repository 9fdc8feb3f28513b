<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Files;

use OCA\NextPyter\Files\RescanPlan;
use PHPUnit\Framework\TestCase;

final class RescanPlanTest extends TestCase {
	public function testRunningUsersAndUsersWhoseServerStoppedSinceAreRescanned(): void {
		$this->assertSame(['alice', 'bob', 'carol'], RescanPlan::users(['bob', 'alice'], ['carol', 'alice']));
		$this->assertSame(['alice', 'carol'], RescanPlan::remember(['bob'], ['carol', 'alice']));
	}

	public function testWhenTheSidecarDoesNotAnswerThePreviousUsersAreRescannedAndKept(): void {
		$this->assertSame(['alice', 'bob'], RescanPlan::users(['bob', 'alice'], null));
		$this->assertSame(['alice', 'bob'], RescanPlan::remember(['bob', 'alice'], null));
	}

	public function testInvalidIdsFromTheSidecarAreIgnored(): void {
		$sessions = [
			['user_id' => 'alice', 'state' => 'running'],
			['user_id' => '../etc', 'state' => 'running'],
			['user_id' => 42],
			['slug' => 'x'],
			'junk',
		];
		$this->assertSame(['alice'], RescanPlan::usersOf($sessions));
	}
}
