<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Service;

use OCA\NextPyter\Config\Settings;
use OCA\NextPyter\Refusal;
use OCA\NextPyter\Tests\Fakes\FakeHttp;
use OCA\NextPyter\Tests\Fakes\Harness;
use PHPUnit\Framework\TestCase;

final class SidecarClientTest extends TestCase {
	/** @return array<string, mixed> the verified claims of the request's bearer token */
	private static function bearer(Harness $h, array $request): array {
		$header = $request['options']['headers']['Authorization'];
		self::assertStringStartsWith('Bearer ', $header);
		return $h->verify(substr($header, 7))['claims'];
	}

	public function testEachCallHasItsOwnTokenWithOnlyTheScopeItNeeds(): void {
		$h = new Harness();
		$settings = $h->configure();
		$h->http->answer(static fn (string $method, string $url): \OCP\Http\Client\IResponse => match (true) {
			$method === 'GET' && $url === 'http://sidecar:8000/api/v1/sessions' => FakeHttp::json(200, ['sessions' => [['user_id' => 'alice']]]),
			$method === 'GET' => FakeHttp::json(200, ['user_id' => 'a b', 'state' => 'running']),
			$method === 'DELETE' => FakeHttp::response(204),
			default => FakeHttp::json(200, []),
		});
		$this->assertSame([['user_id' => 'alice']], $h->sidecar->sessions($settings, 'root'));
		$this->assertSame(['admin'], self::bearer($h, $h->http->last())['scopes']);
		$this->assertSame('root', self::bearer($h, $h->http->last())['sub']);

		$this->assertSame('running', $h->sidecar->session($settings, 'a b', 'a b')['state']);
		$this->assertSame('http://sidecar:8000/api/v1/sessions/a%20b', $h->http->last()['url']);
		$this->assertSame(['sessions:read'], self::bearer($h, $h->http->last())['scopes']);

		$this->assertTrue($h->sidecar->stop($settings, 'alice', 'alice'));
		$this->assertSame(['DELETE', ['sessions:write']], [$h->http->last()['method'], self::bearer($h, $h->http->last())['scopes']]);

		$jtis = array_map(static fn (array $r): string => self::bearer($h, $r)['jti'], $h->http->requests);
		$this->assertCount(3, array_unique($jtis), 'tokens are single use: one per request');
	}

	public function testRequestsMayReachAPrivateAddressAndLookAtErrorsThemselves(): void {
		$h = new Harness();
		$h->sidecar->ready($h->configure());
		$options = $h->http->last()['options'];
		$this->assertSame(['allow_local_address' => true], $options['nextcloud']);
		$this->assertFalse($options['http_errors']);
		$this->assertArrayNotHasKey('Authorization', $options['headers'], 'readiness needs no token');
		$this->assertLessThanOrEqual(10, $options['timeout']);
	}

	public function testTheConfigIsPutAsJsonWithTheAdminScope(): void {
		$h = new Harness();
		$settings = $h->configure(['idleTimeout' => 900]);
		$h->sidecar->applyConfig($settings, 'root');
		$request = $h->http->last();
		$this->assertSame(['PUT', 'http://sidecar:8000/api/v1/config'], [$request['method'], $request['url']]);
		$this->assertSame('application/json', $request['options']['headers']['Content-Type']);
		$body = json_decode($request['options']['body'], true);
		$this->assertSame(['default' => ['cpu' => 1.0, 'memory' => '2g', 'gpu' => 0, 'pids' => 1024]], $body['profiles']);
		$this->assertSame(900, $body['idle_timeout']);
		$this->assertSame(['admin'], self::bearer($h, $request)['scopes']);
	}

	public function testNoServerIsNullAndStoppingNoServerIsFalse(): void {
		$h = new Harness();
		$settings = $h->configure();
		$h->http->answer(static fn (): \OCP\Http\Client\IResponse => FakeHttp::json(404, ['detail' => 'no server']));
		$this->assertNull($h->sidecar->session($settings, 'alice', 'alice'));
		$this->assertFalse($h->sidecar->stop($settings, 'alice', 'alice'));
	}

	public function testAnUnreachableSidecarIsA502ThatSaysWhatToCheck(): void {
		$h = new Harness();
		$settings = $h->configure();
		$h->http->answer(static function (): never {
			throw new \RuntimeException('cURL error 7: Failed to connect to sidecar port 8000');
		});
		try {
			$h->sidecar->sessions($settings, 'root');
			$this->fail('no refusal');
		} catch (Refusal $refusal) {
			$this->assertSame(502, $refusal->status());
			$this->assertStringContainsString('http://sidecar:8000 did not answer (cURL error 7', $refusal->getMessage());
			$this->assertStringContainsString('internal URL in Administration settings', $refusal->getMessage());
		}
		$this->assertSame('unreachable', $h->sidecar->ready($settings)['status']);
		$this->assertNotEmpty($h->logger->lines);
	}

	public function testARefusedTokenNamesTheSidecarSettingsToCheck(): void {
		$h = new Harness();
		$settings = $h->configure();
		$h->http->answer(static fn (): \OCP\Http\Client\IResponse => FakeHttp::json(401, ['code' => 'token-issuer', 'detail' => 'The launch token comes from a Nextcloud this NextPyter does not serve.']));
		try {
			$h->sidecar->sessions($settings, 'root');
			$this->fail('no refusal');
		} catch (Refusal $refusal) {
			$this->assertSame(502, $refusal->status());
			$this->assertStringContainsString('does not serve', $refusal->getMessage());
			$this->assertStringContainsString('NEXTPYTER_TOKEN_ISSUER must be https://cloud.example.com', $refusal->getMessage());
			$this->assertStringContainsString('NEXTPYTER_JWKS https://cloud.example.com/apps/nextpyter/jwks.json', $refusal->getMessage());
		}
	}

	public function testReadinessReportsTheFailingChecks(): void {
		$h = new Harness();
		$settings = $h->configure();
		$h->http->answer(static fn (): \OCP\Http\Client\IResponse => FakeHttp::json(503, ['status' => 'unavailable', 'checks' => ['redis' => 'ok', 'jwks' => 'unavailable: ConnectionError']]));
		$ready = $h->sidecar->ready($settings);
		$this->assertSame('unavailable', $ready['status']);
		$this->assertStringContainsString('jwks: unavailable: ConnectionError', $ready['message']);
		$this->assertStringNotContainsString('redis', $ready['message']);
		$h->http->answer(static fn (): \OCP\Http\Client\IResponse => FakeHttp::json(200, ['status' => 'ok', 'checks' => ['redis' => 'ok']]));
		$this->assertSame('ok', $h->sidecar->ready($settings)['status']);
	}

	public function testWithoutAUrlNothingIsSent(): void {
		$h = new Harness();
		$this->assertSame('not-configured', $h->sidecar->ready(Settings::defaults())['status']);
		try {
			$h->sidecar->sessions(Settings::defaults(), 'root');
			$this->fail('no refusal');
		} catch (Refusal $refusal) {
			$this->assertSame(409, $refusal->status());
		}
		$this->assertSame([], $h->http->requests);
	}
}
