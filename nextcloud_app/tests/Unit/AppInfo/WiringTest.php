<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\AppInfo;

use OCA\Files\Event\LoadAdditionalScriptsEvent;
use OCA\Files_Sharing\Event\BeforeTemplateRenderedEvent;
use OCA\NextPyter\AppInfo\Application;
use OCA\NextPyter\BackgroundJob\RescanRunningServers;
use OCA\NextPyter\Listener\LoadFilesScripts;
use OCA\NextPyter\Listener\LoadViewerScripts;
use OCA\NextPyter\Service\PreviewConfig;
use OCA\NextPyter\Migration\CreateSigningKey;
use OCA\NextPyter\Sections\AdminSection;
use OCA\NextPyter\Sections\PersonalSection;
use OCA\NextPyter\Settings\Admin;
use OCA\NextPyter\Settings\Personal;
use OCA\NextPyter\Tests\Fakes\FakeHttp;
use OCA\NextPyter\Tests\Fakes\Harness;
use OCA\Viewer\Event\LoadViewer;
use OCP\AppFramework\Bootstrap\IRegistrationContext;
use OCP\EventDispatcher\Event;
use OCP\Files\Cache\IScanner;
use OCP\Http\Client\IResponse;
use OCP\Migration\IOutput;
use OCP\Share\IAttributes;
use OCP\Share\IShare;
use OCP\Util;
use PHPUnit\Framework\TestCase;

/** Application, listener, settings pages, background job and repair step against the fakes. */
final class WiringTest extends TestCase {
	protected function setUp(): void {
		Util::$scripts = [];
		Util::$initScripts = [];
		PreviewConfig::reset();
	}

	private static function preview(Harness $h): PreviewConfig {
		return new PreviewConfig($h->initialState, $h->store, $h->access);
	}

	public function testTheApplicationRegistersTheFilesListener(): void {
		$context = new class implements IRegistrationContext {
			public array $listeners = [];

			public function registerEventListener(string $event, string $listener, int $priority = 0): void {
				$this->listeners[] = [$event, $listener];
			}
		};
		(new Application())->register($context);
		$this->assertSame([
			[LoadAdditionalScriptsEvent::class, LoadFilesScripts::class],
			[LoadViewer::class, LoadViewerScripts::class],
			[BeforeTemplateRenderedEvent::class, LoadViewerScripts::class],
		], $context->listeners);
	}

	public function testTheFilesPageGetsItsScriptAndWhetherTheUserMayUseJupyter(): void {
		$h = new Harness();
		$h->people->logIn('alice', ['students']);
		$listener = new LoadFilesScripts($h->initialState, $h->store, $h->access, self::preview($h));
		$listener->handle(new Event());
		$this->assertSame([], Util::$initScripts, 'other events are ignored');

		$listener->handle(new LoadAdditionalScriptsEvent());
		$this->assertSame([['nextpyter', 'nextpyter-files'], ['nextpyter', 'nextpyter-viewer']], Util::$initScripts);
		$this->assertSame(['enabled' => false, 'message' => \OCA\NextPyter\Config\Availability::NOT_CONFIGURED], $h->initialState->json('files-config'));
		$this->assertSame(['enabled' => false, 'message' => \OCA\NextPyter\Config\Availability::NOT_CONFIGURED, 'public' => false, 'remoteImages' => false], $h->initialState->json('viewer-config'));
		$h->configure(['remoteImages' => true]);
		$this->assertSame(['enabled' => true, 'message' => null], $h->initialState->json('files-config'));
		$this->assertSame(['enabled' => true, 'message' => null, 'public' => false, 'remoteImages' => true], $h->initialState->json('viewer-config'));
	}

	public function testThePreviewLoadsWithTheViewerAndOnPublicSharePagesWithoutJupyter(): void {
		$h = new Harness();
		$h->configure();
		$h->people->logIn('alice');
		$listener = new LoadViewerScripts(self::preview($h));
		$listener->handle(new Event());
		$this->assertSame([], Util::$initScripts);

		$listener->handle(new LoadViewer());
		$listener->handle(new LoadViewer());
		$this->assertSame([['nextpyter', 'nextpyter-viewer']], Util::$initScripts, 'once per page');
		$this->assertSame(['enabled' => true, 'message' => null, 'public' => false, 'remoteImages' => false], $h->initialState->json('viewer-config'));

		// A public share page, even for a logged-in visitor: render and Download only.
		$share = new class implements IShare {
			public function getAttributes(): ?IAttributes {
				return null;
			}
		};
		$listener->handle(new BeforeTemplateRenderedEvent($share));
		$this->assertSame([['nextpyter', 'nextpyter-viewer']], Util::$initScripts);
		$this->assertSame(['enabled' => false, 'message' => null, 'public' => true, 'remoteImages' => false], $h->initialState->json('viewer-config'));

		PreviewConfig::reset();
		Util::$initScripts = [];
		$h->people->current = null;
		$listener->handle(new BeforeTemplateRenderedEvent($share));
		$this->assertSame([['nextpyter', 'nextpyter-viewer']], Util::$initScripts, 'the share page alone loads it too');
		$this->assertTrue($h->initialState->json('viewer-config')['public']);
	}

	public function testTheAdminPage(): void {
		$h = new Harness();
		$h->configure();
		$page = new Admin($h->initialState, $h->store, $h->keys, $h->clock);
		$form = $page->getForm();
		$this->assertSame(['nextpyter', 'admin', ''], [$form->getApp(), $form->getTemplateName(), $form->getRenderAs()]);
		$this->assertSame([['nextpyter', 'nextpyter-admin']], Util::$scripts);
		$state = $h->initialState->json('admin-settings');
		$this->assertSame(
			array_merge(array_keys($h->store->get()->toArray()), ['keyId', 'keyCreated', 'keys', 'issuerDefault', 'jwksUrl']),
			array_keys($state),
		);
		$this->assertSame('https://jupyter.example.com', $state['gatewayUrl']);
		$this->assertSame($h->keys->ring()->active()->kid(), $state['keyId']);
		$this->assertSame('https://cloud.example.com', $state['issuerDefault']);
		$this->assertSame('https://cloud.example.com/apps/nextpyter/jwks.json', $state['jwksUrl']);
		$this->assertSame('nextpyter', $page->getSection());
		$this->assertStringContainsString('id="nextpyter-admin"', (string)file_get_contents(dirname(__DIR__, 3) . '/templates/admin.php'));
	}

	public function testThePersonalPage(): void {
		$h = new Harness();
		$h->configure();
		$h->people->logIn('alice');
		$home = $h->files->home('alice');
		$form = (new Personal($h->initialState, $h->store, $h->access, $h->homeFiles))->getForm();
		$this->assertSame('personal', $form->getTemplateName());
		$this->assertSame([['nextpyter', 'nextpyter-personal']], Util::$scripts);
		$this->assertSame(
			['enabled' => true, 'message' => null, 'filesRootId' => $home->id, 'profiles' => ['default'], 'defaultProfile' => 'default'],
			$h->initialState->json('personal'),
		);
		$this->assertStringContainsString('id="nextpyter-personal"', (string)file_get_contents(dirname(__DIR__, 3) . '/templates/personal.php'));
	}

	public function testSections(): void {
		$h = new Harness();
		foreach ([new AdminSection($h->urls), new PersonalSection($h->urls)] as $section) {
			$this->assertSame('nextpyter', $section->getID());
			$this->assertSame('NextPyter', $section->getName());
			$this->assertFileExists(dirname(__DIR__, 3) . '/img/' . basename($section->getIcon()));
		}
	}

	public function testTheRepairStepMakesTheFirstKeyOnce(): void {
		$h = new Harness();
		$output = new class implements IOutput {
			public array $lines = [];

			public function info($message) {
				$this->lines[] = $message;
			}

			public function warning($message) {
				$this->lines[] = "warning: $message";
			}
		};
		$step = new CreateSigningKey($h->keys, $h->store);
		$step->run($output);
		$this->assertTrue($h->keys->exists());
		$kid = $h->keys->ring()->active()->kid();
		$step->run($output);
		$this->assertSame($kid, $h->keys->ring()->active()->kid());
		$this->assertStringContainsString($kid, $output->lines[0]);
		$this->assertSame('NextPyter already has a signing key.', $output->lines[1]);
	}

	public function testTheJobRescansRunningUsersAndOnceMoreAfterTheyStop(): void {
		$h = new Harness();
		$job = new RescanRunningServers($h->clock, $h->store, $h->sidecar, $h->homeFiles, $h->appConfig, $h->logger);
		$this->assertSame(300, $job->getInterval());
		$this->assertTrue($job->isTimeSensitive());
		$job->runForTest();
		$this->assertSame([], $h->http->requests, 'no sidecar configured: nothing to do');

		$h->configure();
		$running = ['alice', 'bob'];
		$h->http->answer(static function () use (&$running): IResponse {
			return FakeHttp::json(200, ['sessions' => array_map(static fn (string $u): array => ['user_id' => $u, 'state' => 'running'], $running)]);
		});
		foreach (['alice', 'bob', 'carol'] as $user) {
			$h->files->home($user);
		}
		$scanned = static fn (string $user): int => count($h->files->storages[$user]->scans);

		$job->runForTest();
		$this->assertSame([1, 1, 0], [$scanned('alice'), $scanned('bob'), $scanned('carol')]);
		$sent = array_values(array_filter($h->http->requests, static fn (array $r): bool => $r['method'] === 'PUT'));
		$this->assertCount(1, $sent, 'the run-time settings go to the sidecar on every run');
		$this->assertStringEndsWith('/api/v1/config', $sent[0]['url']);
		$this->assertSame(IScanner::SCAN_RECURSIVE, $h->files->storages['alice']->scans[0]['recursive']);

		$running = ['alice'];
		$job->runForTest();
		$this->assertSame([2, 2, 0], [$scanned('alice'), $scanned('bob'), $scanned('carol')], 'bob stopped: one last rescan');
		$job->runForTest();
		$this->assertSame([3, 2, 0], [$scanned('alice'), $scanned('bob'), $scanned('carol')]);

		$h->http->answer(static function (): never {
			throw new \RuntimeException('down');
		});
		$job->runForTest();
		$this->assertSame([4, 2, 0], [$scanned('alice'), $scanned('bob'), $scanned('carol')], 'sidecar down: rescan who ran before');
	}

	public function testInfoXmlDeclaresWhatExists(): void {
		$xml = simplexml_load_file(dirname(__DIR__, 3) . '/appinfo/info.xml');
		$this->assertSame('nextpyter', (string)$xml->id);
		$this->assertSame('NextPyter', (string)$xml->namespace);
		$this->assertSame('32', (string)$xml->dependencies->nextcloud['min-version']);
		$this->assertSame('34', (string)$xml->dependencies->nextcloud['max-version']);
		$this->assertSame('8.2', (string)$xml->dependencies->php['min-version']);
		$classes = array_merge(
			$xml->xpath('//settings/*'),
			$xml->xpath('//background-jobs/job'),
			$xml->xpath('//repair-steps//step'),
		);
		$this->assertCount(7, $classes);
		foreach ($classes as $class) {
			$this->assertTrue(class_exists((string)$class), (string)$class);
		}
	}
}
