<?php

declare(strict_types=1);

namespace OCA\NextPyter\Files;

use OCA\NextPyter\Token\UserIdRule;

/**
 * Whose files the background job rescans.
 *
 * Every user with a server now, and every user who had one at the previous run:
 * a server that stopped since (stopped by its user, culled for idleness, or at
 * its maximum lifetime) still gets one last rescan, so the files it wrote just
 * before stopping appear too.
 */
final class RescanPlan {
	/**
	 * @param list<string> $previous users seen running at the previous run
	 * @param list<string>|null $running users running now, null when the sidecar did not answer
	 * @return list<string> sorted, unique, valid user ids
	 */
	public static function users(array $previous, ?array $running): array {
		$all = array_merge($previous, $running ?? []);
		$valid = array_filter($all, static fn ($id): bool => is_string($id) && UserIdRule::isValid($id));
		$unique = array_values(array_unique($valid));
		sort($unique, SORT_STRING);
		return $unique;
	}

	/**
	 * What to remember for the next run: who runs now, or, when the sidecar did
	 * not answer, who ran before (their servers may still run).
	 *
	 * @param list<string> $previous
	 * @param list<string>|null $running
	 * @return list<string>
	 */
	public static function remember(array $previous, ?array $running): array {
		return self::users([], $running ?? $previous);
	}

	/**
	 * @param list<array<string, mixed>> $sessions the sidecar's GET /api/v1/sessions list
	 * @return list<string>
	 */
	public static function usersOf(array $sessions): array {
		$ids = [];
		foreach ($sessions as $session) {
			if (is_array($session) && is_string($session['user_id'] ?? null)) {
				$ids[] = $session['user_id'];
			}
		}
		return self::users([], $ids);
	}
}
