<?php

declare(strict_types=1);

namespace OCP;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IGroupManager {
	public function groupExists($gid);

	public function getUserGroupIds(IUser $user): array;
}
