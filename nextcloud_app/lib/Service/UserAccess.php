<?php

declare(strict_types=1);

namespace OCA\NextPyter\Service;

use OCA\NextPyter\Config\Availability;
use OCA\NextPyter\Config\Settings;
use OCA\NextPyter\Refusal;
use OCP\IGroupManager;
use OCP\IUser;
use OCP\IUserSession;

/** Who is asking, and whether the group restriction lets them use Jupyter. */
final class UserAccess {
	public function __construct(
		private IUserSession $session,
		private IGroupManager $groups,
	) {
	}

	/** @throws Refusal 401 when nobody is logged in */
	public function currentUser(): IUser {
		$user = $this->session->getUser();
		if (!$user instanceof IUser) {
			throw new Refusal(401, 'You are not logged in to Nextcloud any more. Log in again and retry.');
		}
		return $user;
	}

	public function availability(Settings $settings, ?IUser $user = null): Availability {
		$user ??= $this->session->getUser();
		$groups = $user instanceof IUser ? array_values($this->groups->getUserGroupIds($user)) : [];
		return Availability::of($settings, $groups);
	}

	/**
	 * @throws Refusal 409 when Jupyter is not set up, 403 when the user is not in an allowed group
	 */
	public function checkCanLaunch(Settings $settings, IUser $user): void {
		$availability = $this->availability($settings, $user);
		if (!$availability->enabled) {
			throw new Refusal($settings->gatewayConfigured() ? 403 : 409, (string)$availability->message);
		}
	}

	public function groupExists(string $group): bool {
		return (bool)$this->groups->groupExists($group);
	}
}
