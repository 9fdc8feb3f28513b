<?php

declare(strict_types=1);

namespace OCA\NextPyter\Service;

use OCA\NextPyter\Config\Settings;
use OCA\NextPyter\Config\SettingsValidator;
use OCA\NextPyter\Refusal;
use OCP\AppFramework\Services\IAppConfig;
use OCP\IURLGenerator;

/**
 * The admin's settings in Nextcloud's app config (one JSON value, lazy: only this
 * app's own requests read it).
 */
final class SettingsStore {
	private const KEY = 'settings';

	private ?Settings $cached = null;

	public function __construct(
		private IAppConfig $appConfig,
		private IURLGenerator $urls,
	) {
	}

	public function get(): Settings {
		if ($this->cached !== null) {
			return $this->cached;
		}
		$raw = $this->appConfig->getAppValueString(self::KEY, '', lazy: true);
		$settings = Settings::defaults();
		if ($raw !== '') {
			try {
				$data = json_decode($raw, true, 32, JSON_THROW_ON_ERROR);
				// Saved values were validated; checking them again keeps a hand-edited value out.
				$settings = (new SettingsValidator())->validate(is_array($data) ? $data : [], Settings::defaults());
			} catch (\JsonException|Refusal) {
				$settings = Settings::defaults();
			}
		}
		return $this->cached = $settings;
	}

	public function save(Settings $settings): void {
		$json = json_encode($settings->toArray(), JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
		$this->appConfig->setAppValueString(self::KEY, $json, lazy: true);
		$this->cached = $settings;
	}

	/** Nextcloud's base URL, e.g. https://cloud.example.com (the default token issuer). */
	public function nextcloudBaseUrl(): string {
		return rtrim($this->urls->getBaseUrl(), '/');
	}

	/** The `iss` of every token: the configured issuer, else Nextcloud's base URL. */
	public function issuer(Settings $settings): string {
		return $settings->issuerOr($this->nextcloudBaseUrl());
	}

	/** Where the sidecar reads this app's public keys (its NEXTPYTER_JWKS). */
	public function jwksUrl(): string {
		return $this->urls->linkToRouteAbsolute('nextpyter.jwks.keys');
	}
}
