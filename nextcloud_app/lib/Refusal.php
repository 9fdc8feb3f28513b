<?php

declare(strict_types=1);

namespace OCA\NextPyter;

/**
 * A request this app refuses, with the HTTP status and a message for the person
 * who made it: what happened and what to do. Controllers answer it as
 * `{"message": …}` with that status; nothing was changed.
 */
final class Refusal extends \RuntimeException {
	/**
	 * @param array<string, string> $details field => message, for forms
	 */
	public function __construct(
		private int $status,
		string $message,
		private array $details = [],
	) {
		parent::__construct($message);
	}

	public function status(): int {
		return $this->status;
	}

	/** @return array<string, string> */
	public function details(): array {
		return $this->details;
	}

	/** @return array{message: string, errors?: array<string, string>} */
	public function toArray(): array {
		$body = ['message' => $this->getMessage()];
		if ($this->details !== []) {
			$body['errors'] = $this->details;
		}
		return $body;
	}
}
