<?php

declare(strict_types=1);

namespace OCP\Files\Storage;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
interface IStorage {
	public function isLocal();

	public function instanceOfStorage($class);

	public function getPropagator();

	public function getScanner();
}
