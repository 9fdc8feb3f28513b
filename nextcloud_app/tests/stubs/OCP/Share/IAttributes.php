<?php

declare(strict_types=1);

namespace OCP\Share;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IAttributes {
	public function getAttribute(string $scope, string $key): mixed;
}
