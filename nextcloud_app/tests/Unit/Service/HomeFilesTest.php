<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Service;

use OCA\NextPyter\Refusal;
use OCA\NextPyter\Tests\Fakes\FakeStorage;
use OCA\NextPyter\Tests\Fakes\Harness;
use OCP\Files\Cache\IScanner;
use PHPUnit\Framework\TestCase;

final class HomeFilesTest extends TestCase {
	private static function refusal(\Closure $call): Refusal {
		try {
			$call();
		} catch (Refusal $refusal) {
			return $refusal;
		}
		self::fail('no refusal');
	}

	public function testOwnFilesAndFoldersBecomeTokenPaths(): void {
		$h = new Harness();
		$home = $h->files->home('alice');
		$work = $home->folder('work');
		$notebook = $work->file('a b.ipynb', '{}');
		$this->assertSame('work/a b.ipynb', $h->homeFiles->pathForLaunch('alice', $notebook->id));
		$this->assertSame('work', $h->homeFiles->pathForLaunch('alice', $work->id));
		$this->assertSame('', $h->homeFiles->pathForLaunch('alice', $home->id));
		$this->assertSame($home->id, $h->homeFiles->rootId('alice'));
	}

	public function testAReceivedShareIsRefusedWithWhatToDo(): void {
		$h = new Harness();
		$shared = $h->files->home('alice')->folder('Shared', new FakeStorage('home::bob'));
		$file = $shared->file('theirs.ipynb');
		$refusal = self::refusal(fn () => $h->homeFiles->pathForLaunch('alice', $file->id));
		$this->assertSame(422, $refusal->status());
		$this->assertStringContainsString('“theirs.ipynb” is shared with you', $refusal->getMessage());
		$this->assertStringContainsString('Copy it into your own files', $refusal->getMessage());
	}

	public function testTheOwnCopyWinsWhenAFileIsReachableTwice(): void {
		$h = new Harness();
		$home = $h->files->home('alice');
		$own = $home->file('mine.ipynb');
		// The same file id also reachable through a share of it, listed first.
		$share = $home->folder('Shared', new FakeStorage('home::alice-share'));
		$alias = $share->file('mine.ipynb');
		$alias->id = $own->id;
		unset($home->children['mine.ipynb']);
		$home->children = ['Shared' => $share, 'mine.ipynb' => $own];
		$this->assertSame('mine.ipynb', $h->homeFiles->pathForLaunch('alice', $own->id));
	}

	public function testUnknownIdsAndStoragesJupyterCannotReadAreRefused(): void {
		$h = new Harness();
		$home = $h->files->home('alice');
		$this->assertSame(404, self::refusal(fn () => $h->homeFiles->pathForLaunch('alice', 999))->status());
		$this->assertSame(400, self::refusal(fn () => $h->homeFiles->pathForLaunch('alice', 0))->status());
		$encrypted = $home->file('secret.ipynb');
		$encrypted->encrypted = true;
		$this->assertStringContainsString('encrypted', self::refusal(fn () => $h->homeFiles->pathForLaunch('alice', $encrypted->id))->getMessage());
		$h->files->storages['alice']->local = false;
		$refusal = self::refusal(fn () => $h->homeFiles->pathForLaunch('alice', $home->file('x.ipynb')->id));
		$this->assertSame(422, $refusal->status());
		$this->assertStringContainsString('object storage', $refusal->getMessage());
	}

	public function testANameJupyterCannotOpenIsRefusedWithWhatToDo(): void {
		$h = new Harness();
		$file = $h->files->home('alice')->file('a\\b.ipynb');
		$refusal = self::refusal(fn () => $h->homeFiles->pathForLaunch('alice', $file->id));
		$this->assertSame(422, $refusal->status());
		$this->assertStringContainsString('backslash. Rename or move it', $refusal->getMessage());
	}

	public function testNewNotebooksAreEmptyValidAndNeverOverwrite(): void {
		$h = new Harness();
		$home = $h->files->home('alice');
		$home->folder('Projects')->file('Untitled.ipynb', 'precious');
		$created = $h->homeFiles->createNotebook('alice', '/Projects', '');
		$this->assertSame('/Projects/Untitled 1.ipynb', $created['path']);
		$file = $home->get('Projects/Untitled 1.ipynb');
		$this->assertSame($file->id, $created['fileId']);
		$this->assertSame(4, json_decode($file->content, true)['nbformat']);
		$this->assertSame('precious', $home->get('Projects/Untitled.ipynb')->content);
		$this->assertSame('/Analysis.ipynb', $h->homeFiles->createNotebook('alice', '/', 'Analysis')['path']);
	}

	public function testNotebooksAreNotCreatedWhereJupyterCannotSeeThem(): void {
		$h = new Harness();
		$home = $h->files->home('alice');
		$home->folder('Shared', new FakeStorage('home::bob'));
		$home->file('notes.txt');
		$this->assertSame(422, self::refusal(fn () => $h->homeFiles->createNotebook('alice', '/Shared', ''))->status());
		$this->assertSame(404, self::refusal(fn () => $h->homeFiles->createNotebook('alice', '/Gone', ''))->status());
		$this->assertSame(400, self::refusal(fn () => $h->homeFiles->createNotebook('alice', '/notes.txt', ''))->status());
		$this->assertSame(400, self::refusal(fn () => $h->homeFiles->createNotebook('alice', '/../bob', ''))->status());
		$this->assertSame(400, self::refusal(fn () => $h->homeFiles->createNotebook('alice', '/', 'a/b'))->status());
		$home->folder('ro')->creatable = false;
		$this->assertSame(403, self::refusal(fn () => $h->homeFiles->createNotebook('alice', '/ro', ''))->status());
	}

	public function testRescanningAFolderScansOnlyItAndTellsWhetherSomethingChanged(): void {
		$h = new Harness();
		$work = $h->files->home('alice')->folder('work');
		$storage = $h->files->storages['alice'];
		$this->assertFalse($h->homeFiles->rescanFolder('alice', '/work'));
		$this->assertSame([['path' => 'files/work', 'recursive' => IScanner::SCAN_SHALLOW, 'reuse' => IScanner::REUSE_ETAG | IScanner::REUSE_SIZE]], $storage->scans);
		$this->assertSame([], $storage->propagations);

		$storage->onScan = static function () use ($work): void {
			$work->file('written-by-jupyter.csv', "a,b\n");
		};
		$this->assertTrue($h->homeFiles->rescanFolder('alice', '/work'));
		$this->assertSame([['path' => 'files/work', 'time' => $h->clock->now]], $storage->propagations);
	}

	public function testSharedFoldersAreNotRescanned(): void {
		$h = new Harness();
		$other = new FakeStorage('home::bob');
		$h->files->home('alice')->folder('Shared', $other);
		$this->assertFalse($h->homeFiles->rescanFolder('alice', '/Shared'));
		$this->assertSame([], $other->scans);
	}

	public function testRescanningAllOfAUsersFilesIsOneRecursiveScanOfTheFilesFolder(): void {
		$h = new Harness();
		$h->files->home('alice');
		$h->homeFiles->rescanAll('alice');
		$this->assertSame([['path' => 'files', 'recursive' => IScanner::SCAN_RECURSIVE, 'reuse' => IScanner::REUSE_ETAG | IScanner::REUSE_SIZE]], $h->files->storages['alice']->scans);
	}
}
