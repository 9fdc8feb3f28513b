<?php

declare(strict_types=1);

namespace OCA\NextPyter\Token;

/**
 * The app's signing keys: one active key that signs, and the keys it replaced.
 *
 * Rotation makes a new key active at once. A replaced key stays in the JWKS
 * for RETAIN_SECONDS after it was replaced, far longer than any token it signed
 * can live (launch and admin tokens live 60 seconds, the sidecar allows 30
 * seconds of clock skew), so no valid token is ever left without its public key;
 * after that it is dropped.
 *
 * Immutable: rotate() and pruned() return a new ring.
 */
final class KeyRing {
	public const RETAIN_SECONDS = 600;

	/**
	 * @param SigningKey $active
	 * @param list<array{key: SigningKey, retiredAt: int}> $retired newest first
	 */
	private function __construct(
		private SigningKey $active,
		private array $retired,
	) {
	}

	public static function generate(int $now): self {
		return new self(SigningKey::generate($now), []);
	}

	public function active(): SigningKey {
		return $this->active;
	}

	/** How many keys the ring holds, the active one included. */
	public function keyCount(): int {
		return 1 + count($this->retired);
	}

	public function rotate(int $now): self {
		$retired = array_merge([['key' => $this->active, 'retiredAt' => $now]], $this->retired);
		return (new self(SigningKey::generate($now), $retired))->pruned($now);
	}

	/** Without the replaced keys whose tokens have all expired. */
	public function pruned(int $now): self {
		$kept = array_values(array_filter(
			$this->retired,
			static fn (array $entry): bool => $now - $entry['retiredAt'] < self::RETAIN_SECONDS,
		));
		return new self($this->active, $kept);
	}

	/**
	 * The JWKS the sidecar loads: the active key first, then the replaced keys
	 * still within their retention.
	 *
	 * @return array{keys: list<array<string, string>>}
	 */
	public function jwks(int $now): array {
		$keys = [$this->active->publicJwk()];
		foreach ($this->pruned($now)->retired as $entry) {
			$keys[] = $entry['key']->publicJwk();
		}
		return ['keys' => $keys];
	}

	/**
	 * What an administrator sees: each key, whether it signs, and when a replaced one goes.
	 *
	 * @return list<array{kid: string, active: bool, created: int, retiredAt: ?int, dropsAt: ?int}>
	 */
	public function describe(int $now): array {
		$rows = [[
			'kid' => $this->active->kid(),
			'active' => true,
			'created' => $this->active->created(),
			'retiredAt' => null,
			'dropsAt' => null,
		]];
		foreach ($this->pruned($now)->retired as $entry) {
			$rows[] = [
				'kid' => $entry['key']->kid(),
				'active' => false,
				'created' => $entry['key']->created(),
				'retiredAt' => $entry['retiredAt'],
				'dropsAt' => $entry['retiredAt'] + self::RETAIN_SECONDS,
			];
		}
		return $rows;
	}

	/**
	 * The stored form (private: it holds the seeds).
	 *
	 * @return array{version: int, keys: list<array{seed: string, created: int, retiredAt: ?int}>}
	 */
	public function toArray(): array {
		$keys = [['seed' => Base64Url::encode($this->active->seed()), 'created' => $this->active->created(), 'retiredAt' => null]];
		foreach ($this->retired as $entry) {
			$keys[] = [
				'seed' => Base64Url::encode($entry['key']->seed()),
				'created' => $entry['key']->created(),
				'retiredAt' => $entry['retiredAt'],
			];
		}
		return ['version' => 1, 'keys' => $keys];
	}

	/**
	 * @param array<mixed> $data what toArray() made
	 * @throws \InvalidArgumentException when $data is not a stored key ring
	 */
	public static function fromArray(array $data): self {
		$rows = $data['keys'] ?? null;
		if (!is_array($rows) || $rows === []) {
			throw new \InvalidArgumentException('the stored key ring has no keys');
		}
		$active = null;
		$retired = [];
		foreach ($rows as $row) {
			if (!is_array($row) || !is_string($row['seed'] ?? null) || !is_int($row['created'] ?? null)) {
				throw new \InvalidArgumentException('a stored signing key is malformed');
			}
			$key = SigningKey::fromSeed(Base64Url::decode($row['seed']), $row['created']);
			$retiredAt = $row['retiredAt'] ?? null;
			if ($retiredAt === null) {
				if ($active !== null) {
					throw new \InvalidArgumentException('the stored key ring has two active keys');
				}
				$active = $key;
			} elseif (is_int($retiredAt)) {
				$retired[] = ['key' => $key, 'retiredAt' => $retiredAt];
			} else {
				throw new \InvalidArgumentException('a stored signing key has a malformed retiredAt');
			}
		}
		if ($active === null) {
			throw new \InvalidArgumentException('the stored key ring has no active key');
		}
		usort($retired, static fn (array $a, array $b): int => $b['retiredAt'] <=> $a['retiredAt']);
		return new self($active, $retired);
	}
}
