<?php

declare(strict_types=1);

namespace OCP\Settings;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IIconSection {
	public function getID();

	public function getName();

	public function getPriority();

	public function getIcon();
}
