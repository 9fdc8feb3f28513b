<?php

declare(strict_types=1);

namespace OCP\BackgroundJob;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
abstract class TimedJob extends Job {
	protected int $interval = 0;
	protected int $timeSensitivity = IJob::TIME_SENSITIVE;

	public function setInterval(int $seconds): void {
		$this->interval = $seconds;
	}

	public function getInterval(): int {
		return $this->interval;
	}

	public function isTimeSensitive(): bool {
		return $this->timeSensitivity === IJob::TIME_SENSITIVE;
	}

	public function setTimeSensitivity(int $sensitivity): void {
		$this->timeSensitivity = $sensitivity;
	}
}
