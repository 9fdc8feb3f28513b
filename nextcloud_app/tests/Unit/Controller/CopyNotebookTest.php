<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Controller;

use OCA\NextPyter\Controller\FilesController;
use OCA\NextPyter\Files\NotebookName;
use OCA\NextPyter\Tests\Fakes\FakeFolder;
use OCA\NextPyter\Tests\Fakes\FakeRequest;
use OCA\NextPyter\Tests\Fakes\FakeSharedStorage;
use OCA\NextPyter\Tests\Fakes\FakeStorage;
use OCA\NextPyter\Tests\Fakes\Harness;
use OCP\Files\NotEnoughSpaceException;
use OCP\Files\InvalidPathException;
use OCP\Files\NotFoundException;
use OCP\Files\NotPermittedException;
use OCP\Lock\LockedException;
use PHPUnit\Framework\TestCase;

/** "Open a copy in Jupyter": POST /copy {fileId} → 201 {fileId, path} of a copy in the user's own files. */
final class CopyNotebookTest extends TestCase {
	private function controller(Harness $h): FilesController {
		return new FilesController(new FakeRequest(), $h->store, $h->access, $h->homeFiles);
	}

	/** @return array{Harness, FakeFolder, FakeFolder} harness, alice's files, the folder bob shared with her */
	private function sharedWithAlice(?bool $download = null): array {
		$h = new Harness();
		$h->configure();
		$h->people->logIn('alice');
		$home = $h->files->home('alice');
		$shared = $home->folder('From Bob', new FakeSharedStorage('shared::bob', $download));
		return [$h, $home, $shared];
	}

	public function testASharedNotebookIsCopiedIntoTheTopOfTheUsersFilesAndCanBeLaunched(): void {
		[$h, $home, $shared] = $this->sharedWithAlice();
		$source = $shared->file('Analysis.ipynb', '{"cells": []}');

		$response = $this->controller($h)->copyNotebook($source->id);
		$this->assertSame(201, $response->getStatus());
		$body = $response->getData();
		$this->assertSame(['fileId', 'path'], array_keys($body));
		$this->assertSame('/Analysis (copy).ipynb', $body['path']);
		$copy = $home->children['Analysis (copy).ipynb'];
		$this->assertSame($copy->id, $body['fileId']);
		$this->assertSame('{"cells": []}', $copy->content);
		$this->assertSame('home::alice', $copy->getStorage()->id, 'in her own home storage');

		// The copy is hers: "Open in Jupyter" accepts it.
		$this->assertSame('Analysis (copy).ipynb', $h->homeFiles->pathForLaunch('alice', $body['fileId']));

		// Never overwriting: a second copy gets the next free name.
		$again = $this->controller($h)->copyNotebook((string)$source->id)->getData();
		$this->assertSame('/Analysis (copy 2).ipynb', $again['path']);
		$this->assertSame('{"cells": []}', $home->children['Analysis (copy).ipynb']->content);
	}

	public function testCopyNames(): void {
		$taken = ['a (copy).ipynb' => true];
		$exists = static fn (string $name): bool => isset($taken[$name]);
		$this->assertSame('a (copy 2).ipynb', NotebookName::copyName('a.ipynb', $exists));
		$this->assertSame('b (copy).ipynb', NotebookName::copyName('b.IPYNB', $exists));
		$this->assertSame('Notebook (copy).ipynb', NotebookName::copyName('.ipynb', $exists));
		$long = NotebookName::copyName(str_repeat('é', 200) . '.ipynb', $exists);
		$this->assertLessThanOrEqual(250, strlen($long));
		$this->assertStringEndsWith(' (copy).ipynb', $long);
		$this->assertTrue(mb_check_encoding($long, 'UTF-8'));
	}

	public function testRefusalsAreMessagesAPersonCanActOn(): void {
		[$h, $home, $shared] = $this->sharedWithAlice();
		$text = $shared->file('notes.txt', 'x');
		$folder = $shared->folder('Sub');
		$secret = $shared->file('secret.ipynb', '{}');
		$secret->readable = false;
		$big = $shared->file('big.ipynb', '{}');
		$big->size = 600 * 1024 * 1024;
		$controller = $this->controller($h);

		$cases = [
			[null, 400, 'must be the number'],
			[[1], 400, 'must be the number'],
			['12x', 400, 'must be the number'],
			[0, 400, 'No notebook was given'],
			[987654, 404, 'does not exist any more'],
			[$folder->id, 400, 'is a folder, not a notebook'],
			[$text->id, 422, 'is not a notebook'],
			[$secret->id, 403, 'You may not read'],
			[$big->id, 413, 'larger than 512 MB'],
		];
		foreach ($cases as [$id, $status, $message]) {
			$response = $controller->copyNotebook($id);
			$this->assertSame($status, $response->getStatus(), var_export($id, true));
			$this->assertStringContainsString($message, $response->getData()['message']);
		}
		$this->assertSame(['From Bob'], array_keys($home->children), 'nothing was copied');
	}

	public function testQuotaAndStorageRefusals(): void {
		[$h, $home, $shared] = $this->sharedWithAlice();
		$source = $shared->file('q.ipynb', str_repeat('x', 100));
		$home->freeSpace = 10;
		$full = $this->controller($h)->copyNotebook($source->id);
		$this->assertSame(409, $full->getStatus());
		$this->assertStringContainsString('quota is full', $full->getData()['message']);

		$home->freeSpace = \OCP\Files\FileInfo::SPACE_UNLIMITED;
		$source->copyFails = new NotEnoughSpaceException('quota');
		$this->assertSame(409, $this->controller($h)->copyNotebook($source->id)->getStatus());
		$source->copyFails = new NotPermittedException('read-only storage');
		$refused = $this->controller($h)->copyNotebook($source->id);
		$this->assertSame(403, $refused->getStatus());
		$this->assertStringContainsString('read-only storage', $refused->getData()['message']);
	}

	public function testAViewOnlyShareIsNotCopied(): void {
		[$h, , $shared] = $this->sharedWithAlice(false);
		$source = $shared->file('view-only.ipynb', '{}');
		$response = $this->controller($h)->copyNotebook($source->id);
		$this->assertSame(403, $response->getStatus());
		$this->assertStringContainsString('viewing only', $response->getData()['message']);

		[$h2, , $downloadable] = $this->sharedWithAlice(true);
		$this->assertSame(201, $this->controller($h2)->copyNotebook($downloadable->file('ok.ipynb', '{}')->id)->getStatus());
	}

	public function testOwnAndExternalNotebooksCanBeCopiedToo(): void {
		$h = new Harness();
		$h->configure();
		$h->people->logIn('alice');
		$home = $h->files->home('alice');
		$own = $home->folder('Work')->file('mine.ipynb', '{}');
		$external = $home->folder('NAS', new FakeStorage('smb::nas'))->file('remote.ipynb', '{}');
		$this->assertSame('/mine (copy).ipynb', $this->controller($h)->copyNotebook($own->id)->getData()['path']);
		$this->assertSame('/remote (copy).ipynb', $this->controller($h)->copyNotebook($external->id)->getData()['path']);
	}

	public function testOnlyUsersWhoMayUseJupyterGetCopies(): void {
		[$h, $home, $shared] = $this->sharedWithAlice();
		$source = $shared->file('a.ipynb', '{}');
		$h->configure(['allowedGroups' => ['staff']]);
		$response = $this->controller($h)->copyNotebook($source->id);
		$this->assertSame(403, $response->getStatus());
		$this->assertStringContainsString('Ask your administrator for access', $response->getData()['message']);
		$this->assertArrayNotHasKey('a (copy).ipynb', $home->children);

		$h->people->current = null;
		$this->assertSame(401, $this->controller($h)->copyNotebook($source->id)->getStatus());
	}
	/**
	 * Nextcloud's Node::copy overwrites a file at the target (the fake does as well), so the
	 * free name must still be free when the copy is made: copies of one user are made one at a
	 * time, under a lock, and a second copy while one is being made is a 409, never an overwrite.
	 */
	public function testTwoCopiesAtOnceNeverOverwriteEachOther(): void {
		[$h, $home, $shared] = $this->sharedWithAlice();
		$source = $shared->file('Race.ipynb', '{"cells": ["first"]}');
		$inner = null;
		$source->duringCopy = function () use ($h, $shared, &$inner): void {
			$source2 = $shared->children['Race.ipynb'];
			$source2->duringCopy = null;
			$inner = $this->controller($h)->copyNotebook($source2->id);
		};
		$response = $this->controller($h)->copyNotebook($source->id);
		$this->assertSame(201, $response->getStatus());
		$this->assertNotNull($inner);
		$this->assertSame(409, $inner->getStatus(), 'the copy made while another is under way waits its turn');
		$this->assertStringContainsString('Try again', $inner->getData()['message']);
		$this->assertSame([], $h->locks->held, 'the lock is released');
		$this->assertSame(['acquire nextpyter/copy/alice', 'release nextpyter/copy/alice'], $h->locks->log);

		// After a refusal or a failure, the lock is released too.
		$source->copyFails = new NotPermittedException('read-only');
		$this->assertSame(403, $this->controller($h)->copyNotebook($source->id)->getStatus());
		$this->assertSame([], $h->locks->held);
		$source->copyFails = null;
		$this->assertSame('/Race (copy 2).ipynb', $this->controller($h)->copyNotebook($source->id)->getData()['path']);
	}

	/** What Node::copy may throw besides NotPermitted and NotEnoughSpace is a 4xx with a message, never a 500. */
	public function testEveryFailureOfTheCopyIsA4xxWithAMessage(): void {
		[$h, , $shared] = $this->sharedWithAlice();
		$source = $shared->file('f.ipynb', '{}');
		$cases = [
			[new LockedException('/alice/files/f.ipynb'), 409, 'being written'],
			[new InvalidPathException('invalid'), 422, 'cannot be copied'],
			[new NotFoundException('gone'), 404, 'does not exist any more'],
		];
		foreach ($cases as [$error, $status, $message]) {
			$source->copyFails = $error;
			$response = $this->controller($h)->copyNotebook($source->id);
			$this->assertSame($status, $response->getStatus(), get_class($error));
			$this->assertStringContainsString($message, $response->getData()['message']);
			$this->assertSame([], $h->locks->held);
		}
	}
}
