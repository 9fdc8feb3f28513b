<?php

declare(strict_types=1);

namespace OCA\NextPyter\Token;

/** Token ids: 24 random base64url characters (18 bytes), as secrets.token_urlsafe(18). */
final class Jti {
	public static function random(): string {
		return Base64Url::encode(random_bytes(18));
	}
}
