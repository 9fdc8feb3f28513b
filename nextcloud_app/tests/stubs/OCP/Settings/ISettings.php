<?php

declare(strict_types=1);

namespace OCP\Settings;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface ISettings {
	public function getForm();

	public function getSection();

	public function getPriority();
}
