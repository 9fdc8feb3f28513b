<?php

declare(strict_types=1);

namespace OCA\NextPyter\Config;

/**
 * Whether the current user can open things in Jupyter, and if not, why and what
 * to do. Handed to the Files and personal pages, which hide or explain the actions.
 */
final class Availability implements \JsonSerializable {
	public const NOT_CONFIGURED = 'Jupyter is not set up yet: an administrator has to set the public gateway URL in Administration settings → NextPyter.';
	public const NOT_ALLOWED = 'Jupyter is open to members of some groups only, and you are in none of them. Ask your administrator for access.';

	private function __construct(
		public readonly bool $enabled,
		public readonly ?string $message,
	) {
	}

	/** @param list<string> $userGroups */
	public static function of(Settings $settings, array $userGroups): self {
		if (!$settings->gatewayConfigured()) {
			return new self(false, self::NOT_CONFIGURED);
		}
		if (!$settings->allowsGroups($userGroups)) {
			return new self(false, self::NOT_ALLOWED);
		}
		return new self(true, null);
	}

	/** @return array{enabled: bool, message: ?string} */
	public function jsonSerialize(): array {
		return ['enabled' => $this->enabled, 'message' => $this->message];
	}
}
