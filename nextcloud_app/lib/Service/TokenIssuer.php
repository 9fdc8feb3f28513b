<?php

declare(strict_types=1);

namespace OCA\NextPyter\Service;

use OCA\NextPyter\Config\Settings;
use OCA\NextPyter\Token\AdminClaims;
use OCA\NextPyter\Token\LaunchClaims;
use OCA\NextPyter\Token\TokenSigner;
use OCP\AppFramework\Utility\ITimeFactory;

/** Signs launch and admin tokens with the active key and the configured issuer and audience. */
final class TokenIssuer {
	public function __construct(
		private KeyStore $keys,
		private SettingsStore $settings,
		private ITimeFactory $time,
	) {
	}

	/**
	 * @param string $path relative to the user's files folder
	 */
	public function launchToken(Settings $settings, string $userId, string $path, string $profile): string {
		$claims = LaunchClaims::build(
			issuer: $this->settings->issuer($settings),
			audience: $settings->audience,
			userId: $userId,
			path: $path,
			profile: $profile,
			now: $this->time->getTime(),
		);
		return (new TokenSigner($this->keys->ring()->active()))->sign($claims);
	}

	/**
	 * @param string $subject who asks: a user id, or AdminClaims::SYSTEM_SUBJECT
	 * @param list<string> $scopes
	 */
	public function adminToken(Settings $settings, string $subject, array $scopes): string {
		$claims = AdminClaims::build(
			issuer: $this->settings->issuer($settings),
			audience: $settings->audience,
			subject: $subject,
			scopes: $scopes,
			now: $this->time->getTime(),
		);
		return (new TokenSigner($this->keys->ring()->active()))->sign($claims);
	}
}
