<?php

declare(strict_types=1);

namespace OCP\Migration;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IRepairStep {
	public function getName();

	public function run(IOutput $output);
}
