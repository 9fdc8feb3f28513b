<?php

declare(strict_types=1);

namespace OCP\AppFramework\Http;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
class JSONResponse extends Response {
	protected $data;

	public function __construct(mixed $data = [], int $statusCode = \OCP\AppFramework\Http::STATUS_OK, array $headers = [], int $encodeFlags = 0) {
		parent::__construct($statusCode, $headers);
		$this->data = $data;
		$this->addHeader('Content-Type', 'application/json; charset=utf-8');
	}

	public function render() {
		return json_encode($this->data, JSON_HEX_TAG | JSON_THROW_ON_ERROR);
	}

	public function getData() {
		return $this->data;
	}
}
