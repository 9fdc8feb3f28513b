<?php

declare(strict_types=1);

namespace OCA\NextPyter\Config;

/**
 * What an administrator sets on the NextPyter admin page. Always valid: built by
 * SettingsValidator from input, or from what it stored (fromArray), or defaults().
 */
final class Settings {
	public const DEFAULT_AUDIENCE = 'nextpyter-sidecar';

	/**
	 * @param list<string> $allowedImages
	 * @param list<Profile> $profiles at least one
	 * @param list<string> $allowedGroups empty: every user may use Jupyter
	 * @param bool $remoteImages whether notebook previews load images from other sites (they see the reader's IP address)
	 */
	public function __construct(
		public readonly string $sidecarUrl,
		public readonly string $gatewayUrl,
		public readonly string $issuer,
		public readonly string $audience,
		public readonly string $defaultImage,
		public readonly array $allowedImages,
		public readonly array $profiles,
		public readonly string $defaultProfile,
		public readonly int $idleTimeout,
		public readonly int $maxLifetime,
		public readonly array $allowedGroups,
		public readonly bool $remoteImages = false,
	) {
	}

	public static function defaults(): self {
		return new self(
			sidecarUrl: '',
			gatewayUrl: '',
			issuer: '',
			audience: self::DEFAULT_AUDIENCE,
			defaultImage: '',
			allowedImages: [],
			profiles: [new Profile('default', 1.0, '2g', 0)],
			defaultProfile: 'default',
			idleTimeout: 3600,
			maxLifetime: 0,
			allowedGroups: [],
			remoteImages: false,
		);
	}

	public function sidecarConfigured(): bool {
		return $this->sidecarUrl !== '';
	}

	public function gatewayConfigured(): bool {
		return $this->gatewayUrl !== '';
	}

	/** Where the browser posts a launch token (the gateway serves the sidecar's API). */
	public function launchAction(): string {
		return $this->gatewayUrl . '/api/v1/launch';
	}

	/** The issuer tokens carry: the configured one, else Nextcloud's base URL. */
	public function issuerOr(string $nextcloudBaseUrl): string {
		return $this->issuer !== '' ? $this->issuer : $nextcloudBaseUrl;
	}

	/** @return list<string> */
	public function profileNames(): array {
		return array_map(static fn (Profile $p): string => $p->name, $this->profiles);
	}

	/**
	 * Whether a member of $userGroups may use Jupyter.
	 *
	 * @param list<string> $userGroups
	 */
	public function allowsGroups(array $userGroups): bool {
		return $this->allowedGroups === [] || array_intersect($this->allowedGroups, $userGroups) !== [];
	}

	/**
	 * The body of the sidecar's PUT /api/v1/config: what the sidecar enforces.
	 *
	 * @return array{profiles: \stdClass, default_profile: string, default_image: string, allowed_images: list<string>, idle_timeout: int, max_lifetime: int}
	 */
	public function sidecarConfig(): array {
		// An object even for names like "0", which a PHP array would turn into a JSON list.
		$profiles = new \stdClass();
		foreach ($this->profiles as $profile) {
			$profiles->{$profile->name} = ['cpu' => $profile->cpu, 'memory' => $profile->memory, 'gpu' => $profile->gpu, 'pids' => $profile->pids];
		}
		return [
			'profiles' => $profiles,
			'default_profile' => $this->defaultProfile,
			'default_image' => $this->defaultImage,
			'allowed_images' => $this->allowedImages,
			'idle_timeout' => $this->idleTimeout,
			'max_lifetime' => $this->maxLifetime,
		];
	}

	/** sidecarConfig() as the JSON text sent to the sidecar (floats stay floats: 1.0, not 1). */
	public function sidecarConfigJson(): string {
		return json_encode($this->sidecarConfig(), JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR);
	}

	/**
	 * The stored form, also what the admin page reads and PUTs back.
	 *
	 * @return array<string, mixed>
	 */
	public function toArray(): array {
		return [
			'sidecarUrl' => $this->sidecarUrl,
			'gatewayUrl' => $this->gatewayUrl,
			'issuer' => $this->issuer,
			'audience' => $this->audience,
			'defaultImage' => $this->defaultImage,
			'allowedImages' => $this->allowedImages,
			'profiles' => array_map(static fn (Profile $p): array => $p->toArray(), $this->profiles),
			'defaultProfile' => $this->defaultProfile,
			'idleTimeout' => $this->idleTimeout,
			'maxLifetime' => $this->maxLifetime,
			'allowedGroups' => $this->allowedGroups,
			'remoteImages' => $this->remoteImages,
		];
	}
}
