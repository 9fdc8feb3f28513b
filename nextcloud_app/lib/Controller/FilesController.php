<?php

declare(strict_types=1);

namespace OCA\NextPyter\Controller;

use OCA\NextPyter\Refusal;
use OCA\NextPyter\Service\HomeFiles;
use OCA\NextPyter\Service\SettingsStore;
use OCA\NextPyter\Service\UserAccess;
use OCP\AppFramework\Http\Attribute\FrontpageRoute;
use OCP\AppFramework\Http\Attribute\NoAdminRequired;
use OCP\AppFramework\Http\Attribute\UserRateLimit;
use OCP\AppFramework\Http\JSONResponse;
use OCP\IRequest;

/** "New notebook" in Files, "Open a copy in Jupyter" in the notebook preview, and the rescan of the folder a user opens. */
final class FilesController extends JsonController {
	public function __construct(
		IRequest $request,
		private SettingsStore $store,
		private UserAccess $access,
		private HomeFiles $files,
	) {
		parent::__construct($request);
	}

	/**
	 * Body `{dir: "/Projects", name?: "Analysis"}` → 201 `{fileId, path}`: an empty
	 * notebook named "Untitled.ipynb" (or "Untitled 1.ipynb"… if taken).
	 */
	#[NoAdminRequired]
	#[UserRateLimit(limit: 30, period: 60)]
	#[FrontpageRoute(verb: 'POST', url: '/notebook')]
	public function createNotebook(mixed $dir = null, mixed $name = null): JSONResponse {
		return $this->answer(function () use ($dir, $name): array {
			$dir = self::optionalString($dir, 'dir');
			$name = self::optionalString($name, 'name');
			$user = $this->access->currentUser();
			$this->access->checkCanLaunch($this->store->get(), $user);
			return $this->files->createNotebook((string)$user->getUID(), $dir ?? '/', $name ?? '');
		}, 201);
	}

	/**
	 * "Open a copy in Jupyter". Body `{fileId}`: a notebook the user can read (shared
	 * with them, read-only) → 201 `{fileId, path}` of its copy in the top folder of the
	 * user's own files ("<name> (copy).ipynb", never overwriting), to launch next.
	 */
	#[NoAdminRequired]
	#[UserRateLimit(limit: 20, period: 60)]
	#[FrontpageRoute(verb: 'POST', url: '/copy')]
	public function copyNotebook(mixed $fileId = null): JSONResponse {
		return $this->answer(function () use ($fileId): array {
			if (!is_int($fileId) && !(is_string($fileId) && ctype_digit($fileId))) {
				throw new Refusal(400, "'fileId' must be the number of the notebook to copy.");
			}
			$user = $this->access->currentUser();
			$this->access->checkCanLaunch($this->store->get(), $user);
			return $this->files->copyToOwnFiles((string)$user->getUID(), (int)$fileId);
		}, 201);
	}

	/**
	 * Body `{dir: "/Projects"}` → `{changed: bool}`: picks up what JupyterLab wrote
	 * in that folder (not its subfolders) at once; reload the listing when changed.
	 */
	#[NoAdminRequired]
	#[UserRateLimit(limit: 60, period: 60)]
	#[FrontpageRoute(verb: 'POST', url: '/rescan')]
	public function rescan(mixed $dir = null): JSONResponse {
		return $this->answer(function () use ($dir): array {
			$dir = self::optionalString($dir, 'dir');
			$user = $this->access->currentUser();
			if (!$this->access->availability($this->store->get(), $user)->enabled) {
				return ['changed' => false];
			}
			return ['changed' => $this->files->rescanFolder((string)$user->getUID(), $dir ?? '/')];
		});
	}
}
