<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCP\Http\Client\IClient;
use OCP\Http\Client\IClientService;
use OCP\Http\Client\IResponse;

/**
 * Nextcloud's HTTP client, answering from a handler and recording every request.
 * The handler gets (method, url, options) and returns a response or throws, as a
 * refused connection does.
 */
final class FakeHttp implements IClientService, IClient {
	/** @var list<array{method: string, url: string, options: array<string, mixed>}> */
	public array $requests = [];
	/** @var \Closure(string, string, array<string, mixed>): IResponse */
	private \Closure $handler;

	public function __construct(?\Closure $handler = null) {
		$this->handler = $handler ?? static fn (): IResponse => self::json(200, []);
	}

	public function answer(\Closure $handler): void {
		$this->handler = $handler;
	}

	public static function json(int $status, array $body): IResponse {
		return self::response($status, json_encode($body, JSON_THROW_ON_ERROR));
	}

	public static function response(int $status, string $body = ''): IResponse {
		return new class($status, $body) implements IResponse {
			public function __construct(private int $status, private string $body) {
			}

			public function getBody() {
				return $this->body;
			}

			public function getStatusCode(): int {
				return $this->status;
			}

			public function getHeader(string $key): string {
				return '';
			}

			public function getHeaders(): array {
				return [];
			}
		};
	}

	public function newClient(): IClient {
		return $this;
	}

	public function get(string $uri, array $options = []): IResponse {
		return $this->send('GET', $uri, $options);
	}

	public function put(string $uri, array $options = []): IResponse {
		return $this->send('PUT', $uri, $options);
	}

	public function delete(string $uri, array $options = []): IResponse {
		return $this->send('DELETE', $uri, $options);
	}

	/** @return array{method: string, url: string, options: array<string, mixed>} */
	public function last(): array {
		return $this->requests[count($this->requests) - 1];
	}

	private function send(string $method, string $url, array $options): IResponse {
		$this->requests[] = ['method' => $method, 'url' => $url, 'options' => $options];
		return ($this->handler)($method, $url, $options);
	}
}
