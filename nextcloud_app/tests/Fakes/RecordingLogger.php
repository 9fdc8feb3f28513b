<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use Psr\Log\LoggerInterface;

final class RecordingLogger implements LoggerInterface {
	/** @var list<array{string, string}> */
	public array $lines = [];

	public function error(string|\Stringable $message, array $context = []): void {
		$this->lines[] = ['error', self::interpolate((string)$message, $context)];
	}

	public function warning(string|\Stringable $message, array $context = []): void {
		$this->lines[] = ['warning', self::interpolate((string)$message, $context)];
	}

	public function info(string|\Stringable $message, array $context = []): void {
		$this->lines[] = ['info', self::interpolate((string)$message, $context)];
	}

	private static function interpolate(string $message, array $context): string {
		foreach ($context as $key => $value) {
			if (is_scalar($value)) {
				$message = str_replace('{' . $key . '}', (string)$value, $message);
			}
		}
		return $message;
	}
}
