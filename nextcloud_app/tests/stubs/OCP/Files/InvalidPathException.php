<?php

declare(strict_types=1);

namespace OCP\Files;

/** Test double of Nextcloud's public API: a path Nextcloud does not accept. */
class InvalidPathException extends \Exception {
}
