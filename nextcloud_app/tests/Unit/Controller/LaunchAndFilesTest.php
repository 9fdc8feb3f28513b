<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Controller;

use OCA\NextPyter\Controller\FilesController;
use OCA\NextPyter\Controller\JwksController;
use OCA\NextPyter\Controller\LaunchController;
use OCA\NextPyter\Tests\Fakes\FakeRequest;
use OCA\NextPyter\Tests\Fakes\FakeStorage;
use OCA\NextPyter\Tests\Fakes\Harness;
use OCA\NextPyter\Tests\Fakes\Jwt;
use PHPUnit\Framework\TestCase;

final class LaunchAndFilesTest extends TestCase {
	private function launch(Harness $h): LaunchController {
		return new LaunchController(new FakeRequest(), $h->store, $h->access, $h->homeFiles, $h->tokens);
	}

	private function filesController(Harness $h): FilesController {
		return new FilesController(new FakeRequest(), $h->store, $h->access, $h->homeFiles);
	}

	public function testLaunchAnswersTheFormActionAndASignedToken(): void {
		$h = new Harness();
		$h->configure(['profiles' => [['name' => 'small', 'cpu' => 1, 'memory' => '1g', 'gpu' => 0], ['name' => 'big', 'cpu' => 8, 'memory' => '32g', 'gpu' => 0]]]);
		$h->people->logIn('alice');
		$file = $h->files->home('alice')->folder('work')->file('a.ipynb');

		$response = $this->launch($h)->launch($file->id);
		$this->assertSame(200, $response->getStatus());
		$body = $response->getData();
		$this->assertSame(['action', 'token'], array_keys($body));
		$this->assertSame('https://jupyter.example.com/api/v1/launch', $body['action']);
		$claims = $h->verify($body['token'])['claims'];
		$this->assertSame(['alice', 'work/a.ipynb', 'small'], [$claims['sub'], $claims['path'], $claims['profile']]);
		$this->assertSame(60, $claims['exp'] - $claims['iat']);

		$big = $h->verify($this->launch($h)->launch($file->id, 'big')->getData()['token'])['claims'];
		$this->assertSame('big', $big['profile']);
		$unknown = $this->launch($h)->launch($file->id, 'huge');
		$this->assertSame(400, $unknown->getStatus());
		$this->assertStringContainsString('Pick one of: small, big', $unknown->getData()['message']);
	}

	public function testLaunchRefusalsAreMessagesAPersonCanActOn(): void {
		$h = new Harness();
		$h->people->logIn('alice', ['students']);
		$home = $h->files->home('alice');
		$own = $home->file('a.ipynb');
		$theirs = $home->folder('Shared', new FakeStorage('home::bob'))->file('b.ipynb');

		$notConfigured = $this->launch($h)->launch($own->id);
		$this->assertSame(409, $notConfigured->getStatus());
		$this->assertStringContainsString('public gateway URL', $notConfigured->getData()['message']);

		$h->configure(['allowedGroups' => ['staff']]);
		$notAllowed = $this->launch($h)->launch($own->id);
		$this->assertSame(403, $notAllowed->getStatus());
		$this->assertStringContainsString('Ask your administrator for access', $notAllowed->getData()['message']);

		$h->people->memberships['alice'] = ['staff'];
		$shared = $this->launch($h)->launch($theirs->id);
		$this->assertSame(422, $shared->getStatus());
		$this->assertStringContainsString('Copy it into your own files', $shared->getData()['message']);
		$this->assertSame(404, $this->launch($h)->launch(12345)->getStatus());
		$this->assertSame(400, $this->launch($h)->launch(null)->getStatus());
		$this->assertSame(200, $this->launch($h)->launch($own->id)->getStatus());
	}

	public function testNobodyLoggedInIsRefused(): void {
		$h = new Harness();
		$h->configure();
		$this->assertSame(401, $this->launch($h)->launch(5)->getStatus());
	}

	public function testNewNotebookIs201WithItsIdAndPath(): void {
		$h = new Harness();
		$h->configure();
		$h->people->logIn('alice');
		$h->files->home('alice')->folder('Projects');
		$response = $this->filesController($h)->createNotebook('/Projects');
		$this->assertSame(201, $response->getStatus());
		$this->assertSame('/Projects/Untitled.ipynb', $response->getData()['path']);
		$this->assertSame('/Projects/Untitled 1.ipynb', $this->filesController($h)->createNotebook('/Projects')->getData()['path']);
		$this->assertSame('/Report.ipynb', $this->filesController($h)->createNotebook(null, 'Report')->getData()['path']);
		$gone = $this->filesController($h)->createNotebook('/Gone');
		$this->assertSame(404, $gone->getStatus());
		$this->assertArrayHasKey('message', $gone->getData());
	}

	public function testValuesOfTheWrongTypeAre400NotErrors(): void {
		$h = new Harness();
		$h->configure();
		$h->people->logIn('alice');
		$own = $h->files->home('alice')->file('a.ipynb');
		foreach ([[[]], [['x' => 1]], [1.5], ['12abc']] as [$fileId]) {
			$this->assertSame(400, $this->launch($h)->launch($fileId)->getStatus());
		}
		$this->assertSame(400, $this->launch($h)->launch($own->id, ['big'])->getStatus());
		$this->assertSame(200, $this->launch($h)->launch((string)$own->id)->getStatus());
		$this->assertSame(400, $this->filesController($h)->createNotebook(['/'])->getStatus());
		$this->assertSame(400, $this->filesController($h)->createNotebook('/', 7)->getStatus());
		$this->assertSame(400, $this->filesController($h)->rescan(['/'])->getStatus());
		$this->assertArrayHasKey('message', $this->filesController($h)->rescan(['/'])->getData());
	}

	public function testRescanOnlyForUsersWhoCanUseJupyter(): void {
		$h = new Harness();
		$h->people->logIn('alice');
		$h->files->home('alice');
		$this->assertSame(['changed' => false], $this->filesController($h)->rescan('/')->getData());
		$this->assertSame([], $h->files->storages['alice']->scans, 'not configured: nothing scanned');
		$h->configure();
		$this->assertSame(['changed' => false], $this->filesController($h)->rescan('/')->getData());
		$this->assertCount(1, $h->files->storages['alice']->scans);
	}

	public function testTheJwksRouteServesEveryKeyThatMayStillVerify(): void {
		$h = new Harness();
		$controller = new JwksController(new FakeRequest(), $h->keys, $h->clock);
		$first = $controller->keys()->getData();
		$this->assertCount(1, $first['keys']);
		$h->keys->rotate();
		$second = $controller->keys()->getData();
		$this->assertSame([$h->keys->ring()->active()->kid(), $first['keys'][0]['kid']], array_column($second['keys'], 'kid'));
		$this->assertStringContainsString('no-store', $controller->keys()->getHeaders()['Cache-Control']);
		// A token signed now verifies with what the route serves.
		$settings = $h->configure();
		Jwt::verify($h->tokens->launchToken($settings, 'alice', '', 'default'), $second);
	}
}
