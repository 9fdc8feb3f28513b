<?php

declare(strict_types=1);

namespace OCP\Share;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IShare {
	public function getAttributes(): ?IAttributes;
}
