<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\IGroupManager;
use OCP\IUser;
use OCP\IUserSession;

/** Users, the session and group memberships. */
final class People implements IUserSession, IGroupManager {
	public ?IUser $current = null;
	/** @var array<string, list<string>> uid => group ids */
	public array $memberships = [];
	/** @var list<string> */
	public array $groups = ['admin', 'staff', 'students'];

	public static function user(string $uid): IUser {
		return new class($uid) implements IUser {
			public function __construct(private string $uid) {
			}

			public function getUID() {
				return $this->uid;
			}
		};
	}

	public function logIn(string $uid, array $groups = []): self {
		$this->current = self::user($uid);
		$this->memberships[$uid] = $groups;
		return $this;
	}

	public function getUser() {
		return $this->current;
	}

	public function groupExists($gid) {
		return in_array($gid, $this->groups, true);
	}

	public function getUserGroupIds(IUser $user): array {
		return $this->memberships[$user->getUID()] ?? [];
	}
}
