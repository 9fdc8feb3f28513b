<?php

declare(strict_types=1);

namespace OCA\NextPyter\Tests\Fakes;

use OCA\NextPyter\Config\Settings;
use OCA\NextPyter\Config\SettingsValidator;
use OCA\NextPyter\Service\HomeFiles;
use OCA\NextPyter\Service\KeyStore;
use OCA\NextPyter\Service\SettingsStore;
use OCA\NextPyter\Service\SidecarClient;
use OCA\NextPyter\Service\TokenIssuer;
use OCA\NextPyter\Service\UserAccess;

/** The app's services wired to fakes of Nextcloud, as Nextcloud's container wires them to the real ones. */
final class Harness {
	public InMemoryAppConfig $appConfig;
	public FixedClock $clock;
	public FakeUrls $urls;
	public People $people;
	public FakeHttp $http;
	public FakeFiles $files;
	public RecordingLogger $logger;
	public RecordingInitialState $initialState;
	public SettingsStore $store;
	public KeyStore $keys;
	public TokenIssuer $tokens;
	public SidecarClient $sidecar;
	public UserAccess $access;
	public HomeFiles $homeFiles;
	public FakeLocks $locks;

	public function __construct() {
		$this->appConfig = new InMemoryAppConfig();
		$this->clock = new FixedClock();
		$this->urls = new FakeUrls();
		$this->people = new People();
		$this->http = new FakeHttp();
		$this->files = new FakeFiles();
		$this->logger = new RecordingLogger();
		$this->initialState = new RecordingInitialState();
		$this->store = new SettingsStore($this->appConfig, $this->urls);
		$this->keys = new KeyStore($this->appConfig, $this->clock);
		$this->tokens = new TokenIssuer($this->keys, $this->store, $this->clock);
		$this->sidecar = new SidecarClient($this->http, $this->tokens, $this->store, $this->logger);
		$this->access = new UserAccess($this->people, $this->people);
		$this->locks = new FakeLocks();
		$this->homeFiles = new HomeFiles($this->files, $this->clock, $this->locks);
	}

	/** @param array<string, mixed> $values */
	public function configure(array $values = []): Settings {
		$settings = (new SettingsValidator())->validate($values + [
			'sidecarUrl' => 'http://sidecar:8000',
			'gatewayUrl' => 'https://jupyter.example.com',
		], Settings::defaults());
		$this->store->save($settings);
		return $settings;
	}

	/** @return array{header: array<string, mixed>, claims: array<string, mixed>} */
	public function verify(string $token): array {
		return Jwt::verify($token, $this->keys->ring()->jwks($this->clock->now));
	}
}
