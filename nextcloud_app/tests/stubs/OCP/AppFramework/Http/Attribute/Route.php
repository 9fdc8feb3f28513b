<?php

declare(strict_types=1);

namespace OCP\AppFramework\Http\Attribute;

use Attribute;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
#[Attribute(Attribute::TARGET_METHOD | Attribute::IS_REPEATABLE)]
class Route {
	public const TYPE_API = 'ocs';
	public const TYPE_FRONTPAGE = 'routes';

	public function __construct(
		protected string $type,
		protected string $verb,
		protected string $url,
		protected ?array $requirements = null,
		protected ?array $defaults = null,
		protected ?string $root = null,
		protected ?string $postfix = null,
	) {
	}

	public function getType(): string {
		return $this->type;
	}

	public function getVerb(): string {
		return $this->verb;
	}

	public function getUrl(): string {
		return $this->url;
	}
}
