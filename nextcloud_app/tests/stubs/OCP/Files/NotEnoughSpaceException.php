<?php

declare(strict_types=1);

namespace OCP\Files;

/** Test double of Nextcloud's public API: thrown when a write exceeds the quota. */
class NotEnoughSpaceException extends \Exception {
}
