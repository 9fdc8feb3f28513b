<?php

declare(strict_types=1);

namespace OCA\NextPyter\Migration;

use OCA\NextPyter\Service\KeyStore;
use OCA\NextPyter\Service\SettingsStore;
use OCP\Migration\IOutput;
use OCP\Migration\IRepairStep;

/**
 * On install and upgrade: make the first signing key if there is none, so the
 * JWKS is there before the sidecar first asks for it.
 */
final class CreateSigningKey implements IRepairStep {
	public function __construct(
		private KeyStore $keys,
		private SettingsStore $store,
	) {
	}

	public function getName(): string {
		return "Create the signing key for NextPyter's launch tokens";
	}

	public function run(IOutput $output): void {
		if ($this->keys->exists()) {
			$output->info('NextPyter already has a signing key.');
			return;
		}
		$kid = $this->keys->ring()->active()->kid();
		$output->info("NextPyter made its signing key ($kid). Point the sidecar's NEXTPYTER_JWKS at " . $this->store->jwksUrl());
	}
}
