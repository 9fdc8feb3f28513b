<?php

declare(strict_types=1);

namespace OCA\NextPyter\Token;

/**
 * Which Nextcloud user ids a token may name: the rule of sidecar/slugs.py
 * (validate_user_id), so the app never signs a `sub` the sidecar refuses.
 */
final class UserIdRule {
	private const PATTERN = "/\\A[A-Za-z0-9 _.@'\\-]{1,64}\\z/";

	public static function isValid(string $userId): bool {
		return preg_match(self::PATTERN, $userId) === 1
			&& trim($userId, ' ') === $userId
			&& $userId !== '.' && $userId !== '..';
	}

	/**
	 * @throws \InvalidArgumentException with the rule, for a message
	 */
	public static function check(string $userId): string {
		if (!self::isValid($userId)) {
			throw new \InvalidArgumentException(
				"a user id has 1 to 64 characters: letters, digits, space and _ . @ - ' (not starting or ending with a space)"
			);
		}
		return $userId;
	}
}
