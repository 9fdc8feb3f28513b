<?php

declare(strict_types=1);

namespace Psr\Log;

/** Test double of PSR-3's logger interface: the methods this app calls. */
interface LoggerInterface {
	public function error(string|\Stringable $message, array $context = []): void;

	public function warning(string|\Stringable $message, array $context = []): void;

	public function info(string|\Stringable $message, array $context = []): void;
}
