<?php

declare(strict_types=1);

namespace OCA\NextPyter\Service;

use OCA\NextPyter\Token\KeyRing;
use OCP\AppFramework\Services\IAppConfig;
use OCP\AppFramework\Utility\ITimeFactory;

/**
 * The signing keys in Nextcloud's app config: one sensitive, lazy value (the
 * private seeds never appear in `occ config:list` and are loaded only when a
 * token is signed or the JWKS is served).
 *
 * The first key is made on install (repair step CreateSigningKey) or, failing
 * that, on first use.
 */
final class KeyStore {
	private const KEY = 'signing_keys';

	public function __construct(
		private IAppConfig $appConfig,
		private ITimeFactory $time,
	) {
	}

	public function exists(): bool {
		return $this->load() !== null;
	}

	/** The key ring, made if there is none yet, without keys past their retention. */
	public function ring(): KeyRing {
		$now = $this->time->getTime();
		$ring = $this->load();
		if ($ring === null) {
			$ring = KeyRing::generate($now);
			$this->save($ring);
			return $ring;
		}
		$pruned = $ring->pruned($now);
		if ($pruned->keyCount() !== $ring->keyCount()) {
			$this->save($pruned);
		}
		return $pruned;
	}

	/**
	 * A new active key; the old one keeps verifying for KeyRing::RETAIN_SECONDS.
	 * A damaged stored ring is replaced by a new one.
	 */
	public function rotate(): KeyRing {
		$now = $this->time->getTime();
		try {
			$ring = $this->load();
		} catch (\RuntimeException) {
			$ring = null;
		}
		$rotated = $ring === null ? KeyRing::generate($now) : $ring->rotate($now);
		$this->save($rotated);
		return $rotated;
	}

	private function load(): ?KeyRing {
		$raw = $this->appConfig->getAppValueString(self::KEY, '', lazy: true);
		if ($raw === '') {
			return null;
		}
		try {
			$data = json_decode($raw, true, 8, JSON_THROW_ON_ERROR);
			return KeyRing::fromArray(is_array($data) ? $data : []);
		} catch (\JsonException|\InvalidArgumentException $error) {
			throw new \RuntimeException(
				'The stored NextPyter signing key is damaged (' . $error->getMessage() . '). '
				. 'Rotate the key in Administration settings → NextPyter to make a new one.',
				0,
				$error,
			);
		}
	}

	private function save(KeyRing $ring): void {
		$json = json_encode($ring->toArray(), JSON_THROW_ON_ERROR);
		$this->appConfig->setAppValueString(self::KEY, $json, lazy: true, sensitive: true);
	}
}
