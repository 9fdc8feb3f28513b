<?php

declare(strict_types=1);

namespace OCA\NextPyter\Config;

use OCA\NextPyter\Refusal;

/**
 * Checks what an administrator submits and turns it into Settings, or refuses
 * it whole (400) with one message per bad field. Nothing is saved from a refused
 * submission.
 *
 * The limits are the sidecar's (sidecar/dynconfig.py), so settings saved here
 * are never refused when they are pushed to it. Fields left out of the input
 * keep their current value.
 */
final class SettingsValidator {
	public const MEMORY_PATTERN = '/\A[1-9][0-9]{0,5}[kmgt]\z/i';
	// Docker's image reference grammar, as the sidecar's (pagletto/contract.py) has it.
	public const IMAGE_PATTERN = '/\A(?=.{1,255}\z)(?:(?:localhost(?::[0-9]{1,5})?|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)+(?::[0-9]{1,5})?|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?::[0-9]{1,5}))\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?\z/';
	public const PROFILE_PATTERN = '/\A[a-z0-9][a-z0-9_-]{0,31}\z/';
	public const MAX_SECONDS = 365 * 86400;
	private const MAX_PROFILES = 32;
	private const MAX_IMAGES = 100;
	private const MAX_GROUPS = 200;

	/** @var array<string, string> */
	private array $errors = [];

	/**
	 * @param string|null $nextcloudOrigin Nextcloud's own origin; the gateway must be on another
	 * @param (\Closure(string): bool)|null $groupExists null: group ids are not checked
	 */
	public function __construct(
		private ?string $nextcloudOrigin = null,
		private ?\Closure $groupExists = null,
	) {
	}

	/**
	 * @param array<string, mixed> $input camelCase keys, as Settings::toArray() makes them
	 * @throws Refusal 400 naming every bad field
	 */
	public function validate(array $input, Settings $current): Settings {
		$this->errors = [];
		$value = static fn (string $key, mixed $fallback): mixed => array_key_exists($key, $input) ? $input[$key] : $fallback;

		$sidecarUrl = $this->url('sidecarUrl', $value('sidecarUrl', $current->sidecarUrl), 'Sidecar internal URL', false);
		$gatewayUrl = $this->gatewayUrl($value('gatewayUrl', $current->gatewayUrl));
		$issuer = $this->url('issuer', $value('issuer', $current->issuer), 'Token issuer', false);
		$audience = $this->audience($value('audience', $current->audience));
		$allowedImages = $this->images($value('allowedImages', $current->allowedImages));
		// A default left out of the input follows a changed list: kept if still listed, else the first.
		$keptImage = in_array($current->defaultImage, $allowedImages, true) ? $current->defaultImage : ($allowedImages[0] ?? '');
		$defaultImage = $this->defaultImage($value('defaultImage', $keptImage), $allowedImages);
		$profiles = $this->profiles($value('profiles', array_map(static fn (Profile $p): array => $p->toArray(), $current->profiles)));
		$names = array_map(static fn (Profile $p): string => $p->name, $profiles);
		$keptProfile = in_array($current->defaultProfile, $names, true) ? $current->defaultProfile : '';
		$defaultProfile = $this->defaultProfile($value('defaultProfile', $keptProfile), $profiles);
		$idleTimeout = $this->seconds('idleTimeout', $value('idleTimeout', $current->idleTimeout), 'Idle timeout');
		$maxLifetime = $this->seconds('maxLifetime', $value('maxLifetime', $current->maxLifetime), 'Maximum lifetime');
		$allowedGroups = $this->groups($value('allowedGroups', $current->allowedGroups));
		$remoteImages = $this->flag('remoteImages', $value('remoteImages', $current->remoteImages), 'Remote images in notebook previews');

		if ($this->errors !== []) {
			throw new Refusal(
				400,
				'The settings were not saved: ' . implode(' ', array_values($this->errors)),
				$this->errors,
			);
		}
		return new Settings(
			sidecarUrl: $sidecarUrl,
			gatewayUrl: $gatewayUrl,
			issuer: $issuer,
			audience: $audience,
			defaultImage: $defaultImage,
			allowedImages: $allowedImages,
			profiles: $profiles,
			defaultProfile: $defaultProfile,
			idleTimeout: $idleTimeout,
			maxLifetime: $maxLifetime,
			allowedGroups: $allowedGroups,
			remoteImages: $remoteImages,
		);
	}

	/**
	 * "scheme://host[:port]" of an http(s) URL, lower case, with the default port left out.
	 */
	public static function origin(string $url): ?string {
		$parts = parse_url($url);
		if (!is_array($parts) || !isset($parts['scheme'], $parts['host'])) {
			return null;
		}
		$scheme = strtolower($parts['scheme']);
		$port = $parts['port'] ?? null;
		if (($scheme === 'https' && $port === 443) || ($scheme === 'http' && $port === 80)) {
			$port = null;
		}
		return $scheme . '://' . strtolower($parts['host']) . ($port !== null ? ':' . $port : '');
	}

	private function fail(string $field, string $message): void {
		$this->errors[$field] ??= $message;
	}

	private function url(string $field, mixed $raw, string $label, bool $originOnly): string {
		if (!is_string($raw)) {
			$this->fail($field, "$label must be text.");
			return '';
		}
		$url = rtrim(trim($raw), '/');
		if ($url === '') {
			return '';
		}
		$parts = parse_url($url);
		$scheme = is_array($parts) ? strtolower($parts['scheme'] ?? '') : '';
		if (!is_array($parts) || !in_array($scheme, ['http', 'https'], true) || ($parts['host'] ?? '') === '') {
			$this->fail($field, "$label must be an http:// or https:// URL, like https://jupyter.example.com.");
			return '';
		}
		if (isset($parts['user']) || isset($parts['pass']) || isset($parts['query']) || isset($parts['fragment'])) {
			$this->fail($field, "$label must not contain a user name, password, ?query or #fragment.");
			return '';
		}
		if (preg_match('/[\s\x00-\x1f\x7f]/', $url) === 1 || strlen($url) > 2048) {
			$this->fail($field, "$label must not contain spaces and must be at most 2048 characters.");
			return '';
		}
		if ($originOnly && ($parts['path'] ?? '') !== '') {
			$this->fail($field, "$label must be an origin without a path, like https://jupyter.example.com: JupyterLab is served at /user/… on it.");
			return '';
		}
		return $url;
	}

	private function gatewayUrl(mixed $raw): string {
		$url = $this->url('gatewayUrl', $raw, 'Public gateway URL', true);
		if ($url !== '' && $this->nextcloudOrigin !== null
			&& self::origin($url) === self::origin($this->nextcloudOrigin)) {
			$this->fail(
				'gatewayUrl',
				'Public gateway URL must not be Nextcloud\'s own origin (' . self::origin($url) . '): '
				. 'notebooks run code and must never run with your users\' Nextcloud session. '
				. 'Serve the gateway on another host name or port, like https://jupyter.example.com.',
			);
			return '';
		}
		return $url;
	}

	private function audience(mixed $raw): string {
		if (!is_string($raw) || preg_match('/\A[\x21-\x7e]{1,128}\z/', trim($raw)) !== 1) {
			$this->fail('audience', 'Token audience must be 1-128 visible characters without spaces (the sidecar\'s NEXTPYTER_TOKEN_AUDIENCE, by default ' . Settings::DEFAULT_AUDIENCE . ').');
			return Settings::DEFAULT_AUDIENCE;
		}
		return trim($raw);
	}

	/** @return list<string> */
	private function images(mixed $raw): array {
		$list = $this->stringList('allowedImages', $raw, 'Allowed images', self::MAX_IMAGES);
		foreach ($list as $image) {
			if (preg_match(self::IMAGE_PATTERN, $image) !== 1) {
				$this->fail('allowedImages', "Allowed images: '" . self::shorten($image) . "' is not an image reference; use lower case like registry.example.com/team/scipy:2024.1.");
			}
		}
		return $list;
	}

	/** @param list<string> $allowed */
	private function defaultImage(mixed $raw, array $allowed): string {
		if (!is_string($raw)) {
			$this->fail('defaultImage', 'Default image must be text.');
			return '';
		}
		$image = trim($raw);
		if ($image !== '' && !in_array($image, $allowed, true)) {
			$this->fail('defaultImage', "Default image '" . self::shorten($image) . "' must be one of the allowed images; add it to that list.");
		}
		return $image;
	}

	/** @return list<Profile> */
	private function profiles(mixed $raw): array {
		if (!is_array($raw) || !array_is_list($raw) || $raw === [] || count($raw) > self::MAX_PROFILES) {
			$this->fail('profiles', 'Profiles must be a list of 1 to ' . self::MAX_PROFILES . ' profiles, each with a name, cpu, memory and gpu.');
			return [];
		}
		$profiles = [];
		$names = [];
		foreach ($raw as $i => $spec) {
			$label = 'Profile ' . ($i + 1);
			if (!is_array($spec)) {
				$this->fail('profiles', "$label must have a name, cpu, memory and gpu.");
				continue;
			}
			$name = $spec['name'] ?? null;
			if (!is_string($name) || preg_match(self::PROFILE_PATTERN, $name) !== 1) {
				$this->fail('profiles', "$label: the name must be 1-32 characters of a-z 0-9 _ -, starting with a letter or digit.");
				continue;
			}
			if (isset($names[$name])) {
				$this->fail('profiles', "Profile '$name' is listed twice; give each profile its own name.");
				continue;
			}
			$names[$name] = true;
			$cpu = $spec['cpu'] ?? null;
			if (is_string($cpu) && is_numeric($cpu)) {
				$cpu = (float)$cpu;
			}
			if (!(is_int($cpu) || is_float($cpu)) || !is_finite((float)$cpu) || $cpu <= 0 || $cpu > 256) {
				$this->fail('profiles', "Profile '$name': cpu must be a number of cores above 0 and at most 256, like 0.5 or 2.");
				continue;
			}
			$memory = $spec['memory'] ?? null;
			if (!is_string($memory) || preg_match(self::MEMORY_PATTERN, trim($memory)) !== 1) {
				$this->fail('profiles', "Profile '$name': memory must be a whole number with a unit k, m, g or t, like 512m or 4g.");
				continue;
			}
			$gpu = self::wholeNumber($spec['gpu'] ?? 0);
			if ($gpu === null || $gpu < 0 || $gpu > 16) {
				$this->fail('profiles', "Profile '$name': gpu must be a whole number from 0 to 16.");
				continue;
			}
			$pids = self::wholeNumber($spec['pids'] ?? Profile::DEFAULT_PIDS);
			if ($pids === null || $pids < 64 || $pids > 1000000) {
				$this->fail('profiles', "Profile '$name': processes must be a whole number from 64 to 1000000 (threads count too; 1024 suits most notebooks).");
				continue;
			}
			$profiles[] = new Profile($name, (float)$cpu, strtolower(trim($memory)), $gpu, $pids);
		}
		return $profiles;
	}

	/** @param list<Profile> $profiles */
	private function defaultProfile(mixed $raw, array $profiles): string {
		$names = array_map(static fn (Profile $p): string => $p->name, $profiles);
		if ($raw === '' || $raw === null) {
			return $names[0] ?? '';
		}
		if (!is_string($raw) || ($profiles !== [] && !in_array($raw, $names, true))) {
			$this->fail('defaultProfile', 'Default profile must be one of the profiles (' . implode(', ', $names) . ').');
			return '';
		}
		return $raw;
	}

	private function flag(string $field, mixed $raw, string $label): bool {
		if (!is_bool($raw)) {
			$this->fail($field, "$label must be on or off (true or false).");
			return false;
		}
		return $raw;
	}

	private function seconds(string $field, mixed $raw, string $label): int {
		$seconds = self::wholeNumber($raw);
		if ($seconds === null || $seconds < 0 || $seconds > self::MAX_SECONDS) {
			$this->fail($field, "$label must be a whole number of seconds from 0 (off) to " . self::MAX_SECONDS . ' (one year).');
			return 0;
		}
		return $seconds;
	}

	/** @return list<string> */
	private function groups(mixed $raw): array {
		$groups = $this->stringList('allowedGroups', $raw, 'Allowed groups', self::MAX_GROUPS);
		foreach ($groups as $group) {
			if ($this->groupExists !== null && !($this->groupExists)($group)) {
				$this->fail('allowedGroups', "Allowed groups: there is no group '" . self::shorten($group) . "'; pick existing groups, or none to let every user in.");
			}
		}
		return $groups;
	}

	/** @return list<string> trimmed, without empty entries and duplicates */
	private function stringList(string $field, mixed $raw, string $label, int $max): array {
		if (!is_array($raw) || !array_is_list($raw)) {
			$this->fail($field, "$label must be a list.");
			return [];
		}
		$list = [];
		foreach ($raw as $item) {
			if (!is_string($item) || strlen($item) > 255) {
				$this->fail($field, "$label must be a list of texts of at most 255 characters.");
				return [];
			}
			$item = trim($item);
			if ($item !== '' && !in_array($item, $list, true)) {
				$list[] = $item;
			}
		}
		if (count($list) > $max) {
			$this->fail($field, "$label can hold at most $max entries.");
		}
		return $list;
	}

	private static function wholeNumber(mixed $raw): ?int {
		if (is_int($raw)) {
			return $raw;
		}
		if (is_string($raw) && preg_match('/\A[0-9]{1,10}\z/', $raw) === 1) {
			return (int)$raw;
		}
		if (is_float($raw) && floor($raw) === $raw && abs($raw) < 1e10) {
			return (int)$raw;
		}
		return null;
	}

	private static function shorten(string $text): string {
		return mb_strlen($text) > 60 ? mb_substr($text, 0, 57) . '…' : $text;
	}
}
