<?php

declare(strict_types=1);

namespace OCP\AppFramework;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
class Http {
	public const STATUS_OK = 200;
	public const STATUS_CREATED = 201;
	public const STATUS_NO_CONTENT = 204;
	public const STATUS_BAD_REQUEST = 400;
	public const STATUS_FORBIDDEN = 403;
	public const STATUS_NOT_FOUND = 404;
	public const STATUS_CONFLICT = 409;
	public const STATUS_UNPROCESSABLE_ENTITY = 422;
	public const STATUS_BAD_GATEWAY = 502;
	public const STATUS_SERVICE_UNAVAILABLE = 503;
}
