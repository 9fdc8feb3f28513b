<?php

declare(strict_types=1);

namespace OCA\NextPyter\Service;

use OCA\NextPyter\Config\Settings;
use OCA\NextPyter\Refusal;
use OCP\Http\Client\IClientService;
use OCP\Http\Client\IResponse;
use Psr\Log\LoggerInterface;

/**
 * Nextcloud's server side calling the sidecar's REST API (sidecar/openapi.json)
 * at the internal URL, each call with a fresh admin token that grants only the
 * scope the call needs (tokens are single use).
 *
 * Any failure is a Refusal (502, or 409 when no URL is set) whose message says
 * what to check, so a controller can hand it to the person.
 */
final class SidecarClient {
	private const TIMEOUT = 10;
	private const CONNECT_TIMEOUT = 3;

	public function __construct(
		private IClientService $clients,
		private TokenIssuer $tokens,
		private SettingsStore $store,
		private LoggerInterface $logger,
	) {
	}

	/**
	 * The sidecar's readiness (GET /api/v1/ready, no authentication). Never throws.
	 *
	 * @return array{status: string, checks: array<string, string>, message: string}
	 */
	public function ready(Settings $settings): array {
		if (!$settings->sidecarConfigured()) {
			return ['status' => 'not-configured', 'checks' => [], 'message' => self::notConfigured()->getMessage()];
		}
		try {
			$response = $this->send($settings, 'GET', '/api/v1/ready');
		} catch (Refusal $refusal) {
			return ['status' => 'unreachable', 'checks' => [], 'message' => $refusal->getMessage()];
		}
		$body = self::json($response);
		$checks = [];
		foreach (is_array($body['checks'] ?? null) ? $body['checks'] : [] as $name => $state) {
			$checks[(string)$name] = is_scalar($state) ? (string)$state : '';
		}
		if ($response->getStatusCode() === 200) {
			return ['status' => 'ok', 'checks' => $checks, 'message' => 'The sidecar is ready.'];
		}
		$failing = [];
		foreach ($checks as $name => $state) {
			if (!str_starts_with($state, 'ok')) {
				$failing[] = "$name: $state";
			}
		}
		return [
			'status' => 'unavailable',
			'checks' => $checks,
			'message' => 'The sidecar runs but is not ready (' . ($failing !== [] ? implode('; ', $failing) : 'HTTP ' . $response->getStatusCode())
				. '). Check its log; it needs Redis and this app\'s public keys (' . $this->store->jwksUrl() . ').',
		];
	}

	/**
	 * Every running server (GET /api/v1/sessions, scope admin).
	 *
	 * @return list<array<string, mixed>>
	 */
	public function sessions(Settings $settings, string $subject): array {
		$response = $this->send($settings, 'GET', '/api/v1/sessions', $subject, ['admin']);
		$this->expect($settings, $response, [200], 'list the running servers');
		$sessions = self::json($response)['sessions'] ?? null;
		return is_array($sessions) ? array_values(array_filter($sessions, 'is_array')) : [];
	}

	/**
	 * A user's server (GET /api/v1/sessions/{user}, scope sessions:read), null when none runs.
	 *
	 * @return array<string, mixed>|null
	 */
	public function session(Settings $settings, string $userId, string $subject): ?array {
		$response = $this->send($settings, 'GET', '/api/v1/sessions/' . rawurlencode($userId), $subject, ['sessions:read']);
		if ($response->getStatusCode() === 404) {
			return null;
		}
		$this->expect($settings, $response, [200], 'look up the server');
		return self::json($response);
	}

	/** Stop a user's server (DELETE /api/v1/sessions/{user}, scope sessions:write); false when none ran. */
	public function stop(Settings $settings, string $userId, string $subject): bool {
		$response = $this->send($settings, 'DELETE', '/api/v1/sessions/' . rawurlencode($userId), $subject, ['sessions:write']);
		if ($response->getStatusCode() === 404) {
			return false;
		}
		$this->expect($settings, $response, [200, 204], 'stop the server');
		return true;
	}

	/** Hand the settings the sidecar enforces to it (PUT /api/v1/config, scope admin). */
	public function applyConfig(Settings $settings, string $subject): void {
		$response = $this->send($settings, 'PUT', '/api/v1/config', $subject, ['admin'], $settings->sidecarConfigJson());
		$this->expect($settings, $response, [200, 204], 'apply the settings');
	}

	/**
	 * @param list<string>|null $scopes null: no Authorization header
	 * @throws Refusal
	 */
	private function send(Settings $settings, string $method, string $path, string $subject = '', ?array $scopes = null, ?string $body = null): IResponse {
		if (!$settings->sidecarConfigured()) {
			throw self::notConfigured();
		}
		$url = $settings->sidecarUrl . $path;
		$headers = ['Accept' => 'application/json'];
		if ($scopes !== null) {
			$headers['Authorization'] = 'Bearer ' . $this->tokens->adminToken($settings, $subject, $scopes);
		}
		$options = [
			'timeout' => self::TIMEOUT,
			'connect_timeout' => self::CONNECT_TIMEOUT,
			// Answers like 404 are part of the API; look at them instead of catching them.
			'http_errors' => false,
			// The sidecar usually sits on a private network next to Nextcloud.
			'nextcloud' => ['allow_local_address' => true],
		];
		if ($body !== null) {
			$headers['Content-Type'] = 'application/json';
			$options['body'] = $body;
		}
		$options['headers'] = $headers;
		$client = $this->clients->newClient();
		try {
			return match ($method) {
				'GET' => $client->get($url, $options),
				'PUT' => $client->put($url, $options),
				'DELETE' => $client->delete($url, $options),
			};
		} catch (\Throwable $error) {
			$this->logger->warning('NextPyter: the sidecar at {url} did not answer: {error}', ['url' => $url, 'error' => $error->getMessage()]);
			throw new Refusal(
				502,
				"NextPyter's sidecar at {$settings->sidecarUrl} did not answer (" . self::shorten($error->getMessage()) . '). '
				. 'Try again in a minute; if it keeps failing, an administrator should check that the sidecar runs '
				. 'and that its internal URL in Administration settings → NextPyter is right.',
			);
		}
	}

	/**
	 * @param list<int> $ok
	 * @throws Refusal
	 */
	private function expect(Settings $settings, IResponse $response, array $ok, string $what): void {
		$status = $response->getStatusCode();
		if (in_array($status, $ok, true)) {
			return;
		}
		$body = self::json($response);
		$detail = is_string($body['detail'] ?? null) ? self::shorten($body['detail']) : "HTTP $status";
		$this->logger->warning('NextPyter: the sidecar refused to {what}: {status} {detail}', ['what' => $what, 'status' => $status, 'detail' => $detail]);
		if ($status === 401 || $status === 403) {
			throw new Refusal(502, "The sidecar refused this Nextcloud's request to $what: $detail "
				. "Check the sidecar's settings: NEXTPYTER_TOKEN_ISSUER must be " . $this->store->issuer($settings)
				. ', NEXTPYTER_TOKEN_AUDIENCE ' . $settings->audience
				. ' and NEXTPYTER_JWKS ' . $this->store->jwksUrl() . '.');
		}
		if ($status >= 400 && $status < 500) {
			throw new Refusal(502, "The sidecar refused to $what: $detail");
		}
		throw new Refusal(502, "The sidecar failed to $what ($detail). Try again in a minute; if it keeps failing, check the sidecar's log.");
	}

	private static function notConfigured(): Refusal {
		return new Refusal(409, 'The sidecar internal URL is not set: an administrator has to set it in Administration settings → NextPyter.');
	}

	/** @return array<string, mixed> */
	private static function json(IResponse $response): array {
		$body = $response->getBody();
		if (is_resource($body)) {
			$body = stream_get_contents($body);
		}
		if (!is_string($body) || $body === '') {
			return [];
		}
		try {
			$data = json_decode($body, true, 32, JSON_THROW_ON_ERROR);
		} catch (\JsonException) {
			return [];
		}
		return is_array($data) ? $data : [];
	}

	private static function shorten(string $text): string {
		$text = trim(preg_replace('/\s+/', ' ', $text) ?? '');
		return mb_strlen($text) > 300 ? mb_substr($text, 0, 297) . '…' : $text;
	}
}
