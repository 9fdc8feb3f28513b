<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Unit\Controller;

use OCP\AppFramework\Http\Attribute\FrontpageRoute;
use OCP\AppFramework\Http\Attribute\NoAdminRequired;
use OCP\AppFramework\Http\Attribute\NoCSRFRequired;
use OCP\AppFramework\Http\Attribute\PublicPage;
use OCP\AppFramework\Http\Attribute\UserRateLimit;
use PHPUnit\Framework\TestCase;

/**
 * The routes the JavaScript builds against, with who may call them, read from the
 * attributes the way Nextcloud's router reads them (every lib/Controller/*Controller.php).
 */
final class RoutesTest extends TestCase {
	private const EXPECTED = [
		// verb, url under /apps/nextpyter => [route name, access]
		'POST /launch' => ['launch#launch', 'user'],
		'POST /notebook' => ['files#createNotebook', 'user'],
		'POST /copy' => ['files#copyNotebook', 'user'],
		'POST /rescan' => ['files#rescan', 'user'],
		'GET /jwks.json' => ['jwks#keys', 'public'],
		'GET /server' => ['server#status', 'user'],
		'DELETE /server' => ['server#stop', 'user'],
		'GET /admin/status' => ['admin#status', 'admin'],
		'PUT /admin/settings' => ['admin#saveSettings', 'admin'],
		'POST /admin/rotate-key' => ['admin#rotateKey', 'admin'],
		'DELETE /admin/sessions/{user}' => ['admin#stopSession', 'admin'],
	];

	/** @return array<string, array{string, string, \ReflectionMethod}> */
	private static function routes(): array {
		$routes = [];
		foreach (glob(dirname(__DIR__, 3) . '/lib/Controller/*Controller.php') as $file) {
			$class = new \ReflectionClass('OCA\\NextPyter\\Controller\\' . basename($file, '.php'));
			foreach ($class->getMethods() as $method) {
				foreach ($method->getAttributes(FrontpageRoute::class) as $attribute) {
					$route = $attribute->newInstance();
					$name = lcfirst(substr($class->getShortName(), 0, -10)) . '#' . $method->getName();
					$access = match (true) {
						$method->getAttributes(PublicPage::class) !== [] => 'public',
						$method->getAttributes(NoAdminRequired::class) !== [] => 'user',
						default => 'admin',
					};
					$routes[$route->getVerb() . ' ' . $route->getUrl()] = [$name, $access, $method];
				}
			}
		}
		ksort($routes);
		return $routes;
	}

	public function testTheRoutesAndWhoMayCallThem(): void {
		$actual = array_map(static fn (array $r): array => [$r[0], $r[1]], self::routes());
		$expected = self::EXPECTED;
		ksort($expected);
		$this->assertSame($expected, $actual);
	}

	public function testLaunchAndNotebookCreationAreRateLimitedPerUser(): void {
		$routes = self::routes();
		foreach (['POST /launch', 'POST /notebook', 'POST /copy', 'POST /rescan'] as $key) {
			$limits = $routes[$key][2]->getAttributes(UserRateLimit::class);
			$this->assertCount(1, $limits, $key);
			$limit = $limits[0]->newInstance();
			$this->assertGreaterThan(0, $limit->getLimit());
			$this->assertSame(60, $limit->getPeriod());
		}
	}

	public function testOnlyTheJwksSkipsTheCsrfCheck(): void {
		foreach (self::routes() as $key => [, , $method]) {
			$this->assertSame($key === 'GET /jwks.json', $method->getAttributes(NoCSRFRequired::class) !== [], $key);
		}
	}

	public function testRouteParametersMatchMethodParameters(): void {
		foreach (self::routes() as $key => [, , $method]) {
			preg_match_all('/\{(\w+)\}/', $key, $placeholders);
			$parameters = array_map(static fn (\ReflectionParameter $p): string => $p->getName(), $method->getParameters());
			foreach ($placeholders[1] as $placeholder) {
				$this->assertContains($placeholder, $parameters, $key);
			}
		}
	}
}
