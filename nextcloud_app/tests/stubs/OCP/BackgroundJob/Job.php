<?php

declare(strict_types=1);

namespace OCP\BackgroundJob;

use OCP\AppFramework\Utility\ITimeFactory;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
abstract class Job implements IJob {
	protected mixed $argument = null;

	public function __construct(
		protected ITimeFactory $time,
	) {
	}

	public function setArgument($argument) {
		$this->argument = $argument;
	}

	public function getArgument() {
		return $this->argument;
	}

	/** Test entry point; Nextcloud's cron calls start(IJobList), which calls run(). */
	public function runForTest(): void {
		$this->run($this->argument);
	}

	abstract protected function run($argument);
}
