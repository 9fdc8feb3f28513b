<?php

declare(strict_types=1);

namespace OCP\AppFramework\Http;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
class Response {
	private array $headers = ['Cache-Control' => 'no-cache, no-store, must-revalidate'];
	private int $status;

	public function __construct(int $status = \OCP\AppFramework\Http::STATUS_OK, array $headers = []) {
		$this->status = $status;
		$this->headers = array_merge($this->headers, $headers);
	}

	public function cacheFor(int $cacheSeconds, bool $public = false, bool $immutable = false) {
		$this->addHeader('Cache-Control', ($public ? 'public' : 'private') . ', max-age=' . $cacheSeconds . ($immutable ? ', immutable' : ''));
		return $this;
	}

	public function addHeader($name, $value) {
		$this->headers[$name] = $value;
		return $this;
	}

	public function getHeaders() {
		return $this->headers;
	}

	public function setStatus($status) {
		$this->status = $status;
		return $this;
	}

	public function getStatus() {
		return $this->status;
	}
}
