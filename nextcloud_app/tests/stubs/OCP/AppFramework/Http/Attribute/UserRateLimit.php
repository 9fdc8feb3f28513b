<?php

declare(strict_types=1);

namespace OCP\AppFramework\Http\Attribute;

use Attribute;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
#[Attribute(Attribute::TARGET_METHOD)]
class UserRateLimit extends ARateLimit {
}
