<?php

declare(strict_types=1);

namespace OCP\AppFramework\Http;

/** Test double of Nextcloud's public API: the part this app uses, with the real signatures. */
class TemplateResponse extends Response {
	public const RENDER_AS_BLANK = '';
	public const RENDER_AS_USER = 'user';

	protected $templateName;
	protected $params;
	protected $renderAs;
	protected $appName;

	public function __construct(string $appName, string $templateName, array $params = [], string $renderAs = self::RENDER_AS_USER, int $status = \OCP\AppFramework\Http::STATUS_OK, array $headers = []) {
		parent::__construct($status, $headers);
		$this->appName = $appName;
		$this->templateName = $templateName;
		$this->params = $params;
		$this->renderAs = $renderAs;
	}

	public function getApp(): string {
		return $this->appName;
	}

	public function getTemplateName() {
		return $this->templateName;
	}

	public function getParams() {
		return $this->params;
	}

	public function getRenderAs() {
		return $this->renderAs;
	}
}
