<?php

declare(strict_types=1);

namespace OCP\BackgroundJob;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IJob {
	public const TIME_INSENSITIVE = 0;
	public const TIME_SENSITIVE = 1;
}
