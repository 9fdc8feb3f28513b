<?php

declare(strict_types=1);

namespace OCP\AppFramework\Http\Attribute;

use Attribute;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
#[Attribute(Attribute::TARGET_METHOD | Attribute::IS_REPEATABLE)]
class FrontpageRoute extends Route {
	public function __construct(
		protected string $verb,
		protected string $url,
		protected ?array $requirements = null,
		protected ?array $defaults = null,
		protected ?string $root = null,
		protected ?string $postfix = null,
	) {
		parent::__construct(Route::TYPE_FRONTPAGE, $verb, $url, $requirements, $defaults, $root, $postfix);
	}
}
