<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Controller;

use OCA\NextPyter\Controller\AdminController;
use OCA\NextPyter\Controller\ServerController;
use OCA\NextPyter\Tests\Fakes\FakeHttp;
use OCA\NextPyter\Tests\Fakes\FakeRequest;
use OCA\NextPyter\Tests\Fakes\Harness;
use OCP\Http\Client\IResponse;
use PHPUnit\Framework\TestCase;

final class ServerAndAdminTest extends TestCase {
	private function admin(Harness $h, array $params = []): AdminController {
		return new AdminController(new FakeRequest($params), $h->store, $h->keys, $h->sidecar, $h->access, $h->clock);
	}

	private function server(Harness $h): ServerController {
		return new ServerController(new FakeRequest(), $h->store, $h->access, $h->sidecar);
	}

	public function testTheUsersServerAndStoppingIt(): void {
		$h = new Harness();
		$h->configure();
		$h->people->logIn('alice');
		$h->http->answer(static fn (string $method): IResponse => $method === 'GET'
			? FakeHttp::json(200, ['user_id' => 'alice', 'slug' => 'alice', 'profile' => 'default', 'state' => 'running', 'created' => 1_699_999_000.5, 'detail' => ''])
			: FakeHttp::response(204));
		$this->assertSame(['running' => true, 'state' => 'running', 'since' => 1_699_999_000, 'profile' => 'default'], $this->server($h)->status()->getData());
		$this->assertSame('http://sidecar:8000/api/v1/sessions/alice', $h->http->last()['url']);
		$this->assertSame(['running' => false, 'state' => 'stopped', 'since' => null, 'profile' => null], $this->server($h)->stop()->getData());
		$this->assertSame('DELETE', $h->http->last()['method']);

		$h->http->answer(static fn (): IResponse => FakeHttp::json(404, ['detail' => 'none']));
		$this->assertFalse($this->server($h)->status()->getData()['running']);
		$this->assertSame(200, $this->server($h)->stop()->getStatus(), 'stopping a stopped server is fine');
	}

	public function testAnUnreachableSidecarIsAMessageNotACrash(): void {
		$h = new Harness();
		$h->configure();
		$h->people->logIn('alice');
		$h->http->answer(static function (): never {
			throw new \RuntimeException('Connection refused');
		});
		$response = $this->server($h)->status();
		$this->assertSame(502, $response->getStatus());
		$this->assertStringContainsString('Try again in a minute', $response->getData()['message']);
	}

	public function testStatusHasHealthAndSessions(): void {
		$h = new Harness();
		$h->people->logIn('root');
		$notConfigured = $this->admin($h)->status()->getData();
		$this->assertSame('not-configured', $notConfigured['health']['status']);
		$this->assertSame([], $notConfigured['sessions']);

		$h->configure();
		$h->http->answer(static fn (string $method, string $url): IResponse => str_ends_with($url, '/ready')
			? FakeHttp::json(200, ['status' => 'ok', 'checks' => ['redis' => 'ok', 'jwks' => 'ok (1 keys)']])
			: FakeHttp::json(200, ['sessions' => [['user_id' => 'bob', 'slug' => 'bob', 'profile' => 'default', 'state' => 'starting', 'created' => 5]]]));
		$status = $this->admin($h)->status()->getData();
		$this->assertSame('ok', $status['health']['status']);
		$this->assertSame([['user_id' => 'bob', 'slug' => 'bob', 'profile' => 'default', 'state' => 'starting', 'created' => 5]], $status['sessions']);
	}

	public function testSavingValidatesStoresAndHandsTheSettingsToTheSidecar(): void {
		$h = new Harness();
		$h->people->logIn('root');
		$bad = $this->admin($h, ['gatewayUrl' => 'https://cloud.example.com/', 'idleTimeout' => 'soon'])->saveSettings();
		$this->assertSame(400, $bad->getStatus());
		$this->assertSame(['gatewayUrl', 'idleTimeout'], array_keys($bad->getData()['errors']));
		$this->assertStringContainsString("Nextcloud's own origin", $bad->getData()['message']);
		$this->assertArrayNotHasKey('settings', $h->appConfig->values, 'nothing saved');

		$ok = $this->admin($h, ['sidecarUrl' => 'http://sidecar:8000', 'gatewayUrl' => 'https://jupyter.example.com', 'allowedGroups' => ['staff']])->saveSettings();
		$this->assertSame(200, $ok->getStatus());
		$this->assertTrue($ok->getData()['sidecar']['applied']);
		$this->assertSame('https://jupyter.example.com', $h->store->get()->gatewayUrl);
		$this->assertSame(['PUT', 'http://sidecar:8000/api/v1/config'], [$h->http->last()['method'], $h->http->last()['url']]);
		$this->assertSame('root', $h->verify(substr($h->http->last()['options']['headers']['Authorization'], 7))['claims']['sub']);

		$unknownGroup = $this->admin($h, ['allowedGroups' => ['nobody']])->saveSettings();
		$this->assertSame(400, $unknownGroup->getStatus());

		$h->http->answer(static fn (): IResponse => FakeHttp::json(400, ['detail' => "'default_image' must be one of 'allowed_images' (or empty)."]));
		$refused = $this->admin($h, ['idleTimeout' => 60])->saveSettings()->getData();
		$this->assertFalse($refused['sidecar']['applied']);
		$this->assertStringContainsString('Saved here, but the sidecar did not take them', $refused['sidecar']['message']);
		$this->assertSame(60, $h->store->get()->idleTimeout);
	}

	public function testRotateKeyAndStopASession(): void {
		$h = new Harness();
		$h->configure();
		$h->people->logIn('root');
		$old = $h->keys->ring()->active()->kid();
		$rotated = $this->admin($h)->rotateKey()->getData();
		$this->assertSame($h->keys->ring()->active()->kid(), $rotated['keyId']);
		$this->assertSame($h->clock->now, $rotated['keyCreated']);
		$keys = $rotated['keys'];
		$this->assertSame([true, false], array_column($keys, 'active'));
		$this->assertSame($old, $keys[1]['kid']);

		$h->http->answer(static fn (): IResponse => FakeHttp::response(204));
		$this->assertSame(['stopped' => true], $this->admin($h)->stopSession('bob@example.com')->getData());
		$this->assertSame('http://sidecar:8000/api/v1/sessions/bob%40example.com', $h->http->last()['url']);
		$h->http->answer(static fn (): IResponse => FakeHttp::json(404, []));
		$this->assertSame(404, $this->admin($h)->stopSession('bob')->getStatus());
		$this->assertSame(400, $this->admin($h)->stopSession('../x')->getStatus());
	}
}
