<?php

declare(strict_types=1);

namespace OCA\NextPyter\BackgroundJob;

use OCA\NextPyter\Files\RescanPlan;
use OCA\NextPyter\Refusal;
use OCA\NextPyter\Service\HomeFiles;
use OCA\NextPyter\Service\SettingsStore;
use OCA\NextPyter\Service\SidecarClient;
use OCA\NextPyter\Token\AdminClaims;
use OCP\AppFramework\Services\IAppConfig;
use OCP\AppFramework\Utility\ITimeFactory;
use OCP\BackgroundJob\IJob;
use OCP\BackgroundJob\TimedJob;
use Psr\Log\LoggerInterface;

/**
 * Every five minutes (with Nextcloud's cron running every five minutes, as it
 * recommends): rescan the files of every user with a running Jupyter server, and
 * once more of every user whose server stopped since the previous run, so what
 * notebooks write appears in Files with its size and date without
 * `occ files:scan`. See RescanPlan for who is picked.
 *
 * It also sends the run-time settings to the sidecar each time, so the sidecar
 * applies them (idle timeout, profiles…) even before an admin first presses Save,
 * and again after its Redis was emptied.
 */
final class RescanRunningServers extends TimedJob {
	public const INTERVAL = 300;
	private const STATE_KEY = 'rescan_users';

	public function __construct(
		ITimeFactory $time,
		private SettingsStore $store,
		private SidecarClient $sidecar,
		private HomeFiles $files,
		private IAppConfig $appConfig,
		private LoggerInterface $logger,
	) {
		parent::__construct($time);
		$this->setInterval(self::INTERVAL);
		$this->setTimeSensitivity(IJob::TIME_SENSITIVE);
	}

	protected function run($argument): void {
		$settings = $this->store->get();
		if (!$settings->sidecarConfigured()) {
			return;
		}
		try {
			$this->sidecar->applyConfig($settings, AdminClaims::SYSTEM_SUBJECT);
		} catch (Refusal $refusal) {
			$this->logger->warning('NextPyter: could not send the settings to the sidecar: {message}', ['message' => $refusal->getMessage()]);
		}
		$previous = $this->previous();
		try {
			$running = RescanPlan::usersOf($this->sidecar->sessions($settings, AdminClaims::SYSTEM_SUBJECT));
		} catch (Refusal $refusal) {
			$this->logger->warning('NextPyter: could not list running servers for the rescan: {message}', ['message' => $refusal->getMessage()]);
			$running = null;
		}
		foreach (RescanPlan::users($previous, $running) as $userId) {
			try {
				$this->files->rescanAll($userId);
			} catch (\Throwable $error) {
				$this->logger->warning('NextPyter: rescanning the files of {user} failed: {message}', ['user' => $userId, 'message' => $error->getMessage(), 'exception' => $error]);
			}
		}
		$this->appConfig->setAppValueString(self::STATE_KEY, json_encode(RescanPlan::remember($previous, $running), JSON_THROW_ON_ERROR), lazy: true);
	}

	/** @return list<string> */
	private function previous(): array {
		$raw = $this->appConfig->getAppValueString(self::STATE_KEY, '[]', lazy: true);
		try {
			$list = json_decode($raw, true, 4, JSON_THROW_ON_ERROR);
		} catch (\JsonException) {
			return [];
		}
		return is_array($list) ? array_values(array_filter($list, 'is_string')) : [];
	}
}
