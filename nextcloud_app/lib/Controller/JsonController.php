<?php

declare(strict_types=1);

namespace OCA\NextPyter\Controller;

use OCA\NextPyter\AppInfo\Application;
use OCA\NextPyter\Refusal;
use OCP\AppFramework\Controller;
use OCP\AppFramework\Http\JSONResponse;
use OCP\IRequest;

/**
 * The one place that turns a Refusal into an answer: its status and
 * `{"message": "…what happened and what to do…"}` (plus `errors` per field for forms).
 */
abstract class JsonController extends Controller {
	public function __construct(IRequest $request) {
		parent::__construct(Application::APP_ID, $request);
	}

	/**
	 * A request value that must be a string when given. Parameters are typed `mixed`
	 * on purpose: a JSON body can hold anything (`{"dir": []}`), and a type the
	 * framework cannot satisfy would be a 500 instead of this 400.
	 */
	protected static function optionalString(mixed $value, string $name): ?string {
		if ($value === null || is_string($value)) {
			return $value;
		}
		throw new Refusal(400, "'$name' must be a string.");
	}

	/**
	 * @param \Closure(): array<string, mixed> $action
	 */
	protected function answer(\Closure $action, int $status = 200): JSONResponse {
		try {
			return new JSONResponse($action(), $status);
		} catch (Refusal $refusal) {
			return new JSONResponse($refusal->toArray(), $refusal->status());
		}
	}
}
