<?php

declare(strict_types=1);

/*
 * The app's signing path for the cross-language contract test (tests/test_contract_php.py):
 * the real KeyStore, TokenIssuer and JWKS route, on the test doubles of Nextcloud.
 * The app config (the key ring) is kept in a state file between runs, so a run
 * with --rotate rotates the key the previous run made.
 *
 *   php sign.php --state FILE --issuer URL --audience AUD [--rotate]
 *                [--user ID] [--path PATH] [--profile NAME] [--subject ID] [--scope S]...
 *                [--settings JSON]
 *
 * Prints one JSON object: {"kid", "jwks" (the route's body, as text), "launch", "admin",
 * "config" (the body the app PUTs to the sidecar's /api/v1/config for --settings, as text)}.
 */

require dirname(__DIR__) . '/bootstrap.php';

use OCA\NextPyter\Config\Settings;
use OCA\NextPyter\Config\SettingsValidator;
use OCA\NextPyter\Controller\JwksController;
use OCA\NextPyter\Service\KeyStore;
use OCA\NextPyter\Service\SettingsStore;
use OCA\NextPyter\Service\TokenIssuer;
use OCA\NextPyter\Tests\Fakes\FakeRequest;
use OCA\NextPyter\Tests\Fakes\FakeUrls;
use OCA\NextPyter\Tests\Fakes\FixedClock;
use OCA\NextPyter\Tests\Fakes\InMemoryAppConfig;

$options = getopt('', ['state:', 'issuer:', 'audience:', 'rotate', 'user:', 'path:', 'profile:', 'subject:', 'scope:', 'settings:']);
if (!isset($options['state'], $options['issuer'], $options['audience'])) {
	fwrite(STDERR, "usage: php sign.php --state FILE --issuer URL --audience AUD [--rotate] [--user ID] [--path PATH] [--profile NAME] [--subject ID] [--scope S]... [--settings JSON]\n");
	exit(2);
}

$appConfig = new InMemoryAppConfig();
if (is_file($options['state'])) {
	$appConfig->values = json_decode((string)file_get_contents($options['state']), true, 16, JSON_THROW_ON_ERROR);
}
$clock = new FixedClock(time());
$urls = new FakeUrls($options['issuer']);
$keys = new KeyStore($appConfig, $clock);
$store = new SettingsStore($appConfig, $urls);
$input = isset($options['settings']) ? json_decode($options['settings'], true, 16, JSON_THROW_ON_ERROR) : [];
$settings = (new SettingsValidator())->validate(['issuer' => $options['issuer'], 'audience' => $options['audience']] + $input, Settings::defaults());
$tokens = new TokenIssuer($keys, $store, $clock);

if (isset($options['rotate'])) {
	$keys->rotate();
}
$scopes = isset($options['scope']) ? (array)$options['scope'] : ['sessions:read'];
$result = [
	'kid' => $keys->ring()->active()->kid(),
	'jwks' => (new JwksController(new FakeRequest(), $keys, $clock))->keys()->render(),
	'launch' => $tokens->launchToken($settings, $options['user'] ?? 'alice', $options['path'] ?? 'work/analysis.ipynb', $options['profile'] ?? 'default'),
	'admin' => $tokens->adminToken($settings, $options['subject'] ?? 'nextcloud', array_values($scopes)),
	'config' => $settings->sidecarConfigJson(),
];
file_put_contents($options['state'], json_encode($appConfig->values, JSON_THROW_ON_ERROR));
echo json_encode($result, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR), "\n";
