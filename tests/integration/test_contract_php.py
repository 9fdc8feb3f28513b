"""Cross-language contract: tokens and JWKS made by the PHP Nextcloud app, checked by the sidecar.

`nextcloud_app/tests/contract/sign.php` runs the app's real signing path (KeyStore,
TokenIssuer, the JWKS route) under PHP and prints a launch token, an admin token and
the JWKS body the route serves. Here the sidecar's own verifier takes them: KeySet on
the JWKS file the PHP emitted, real Redis for single use. A tampered claim or header,
or a token from another key, must be refused; after a key rotation in PHP, tokens of
the old and the new key must both verify. The settings body the app PUTs to
/api/v1/config must be one the sidecar's parser takes as meant.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import jwt
import pytest
import redis as redis_lib
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from nextpyter.sidecar import dynconfig
from nextpyter.sidecar.signing import mint_launch_token, public_jwk
from nextpyter.sidecar.store import RedisJtiStore
from nextpyter.sidecar.tokens import MIN_REFRESH_GAP, KeySet, LaunchTokenVerifier, TokenRejected
from tests.support.need import require
from tests.support.php import AUDIENCE, ISSUER, SIGN, PhpApp

PROFILES = ("default", "gpu")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def app(tmp_path: Path) -> PhpApp:
    return PhpApp(tmp_path)


def verifier_for(
    app: PhpApp, redis_client: redis_lib.Redis, clock: Clock | None = None
) -> LaunchTokenVerifier:
    keys = KeySet(str(app.jwks_path), clock=clock) if clock else KeySet(str(app.jwks_path))
    return LaunchTokenVerifier(keys, ISSUER, AUDIENCE, RedisJtiStore(redis_client), PROFILES)


def with_claims(token: str, **changes: Any) -> str:
    """The token with its payload changed and its signature kept (a forgery)."""
    header, payload, signature = token.split(".")
    claims = json.loads(unb64(payload))
    claims.update(changes)
    return f"{header}.{b64(json.dumps(claims).encode())}.{signature}"


def with_header(token: str, **changes: Any) -> str:
    header, payload, signature = token.split(".")
    fields = json.loads(unb64(header))
    fields.update(changes)
    return f"{b64(json.dumps(fields).encode())}.{payload}.{signature}"


def test_php_tokens_are_accepted_by_the_sidecar(app: PhpApp, redis_client: redis_lib.Redis) -> None:
    signed = app.sign("--user", "a b@example.org", "--path", "Été 2024/Übung 1.ipynb")
    verifier = verifier_for(app, redis_client)

    launch = verifier.verify(signed["launch"])
    assert (launch.user_id, launch.path, launch.profile) == (
        "a b@example.org",
        "Été 2024/Übung 1.ipynb",
        "default",
    )
    assert launch.issuer == ISSUER
    assert launch.expires_at - launch.issued_at == 60

    admin = verifier.verify_admin(signed["admin"])
    assert admin.subject == "nextcloud"
    assert admin.allows("sessions:read")
    assert not admin.allows("sessions:write")

    # Single use, through real Redis.
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(signed["launch"])
    assert caught.value.code == "token-replayed"


def test_the_php_jwks_is_what_the_sidecar_loads(app: PhpApp) -> None:
    signed = app.sign()
    jwks = json.loads(app.jwks_path.read_text(encoding="utf-8"))
    [jwk] = jwks["keys"]
    # The same fields, order and kid rule as nextpyter/sidecar/signing.py:public_jwk.
    assert list(jwk) == ["kty", "crv", "x", "use", "alg", "kid"]
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    assert jwk["kid"] == b64(hashlib.sha256(unb64(jwk["x"])).digest())[:16] == signed["kid"]
    assert jwt.get_unverified_header(signed["launch"]) == {
        "alg": "EdDSA",
        "typ": "JWT",
        "kid": signed["kid"],
    }
    keys = KeySet(str(app.jwks_path))
    assert keys.get(signed["kid"]) is not None
    assert keys.kids() == [signed["kid"]]


def test_devkeys_and_php_agree_on_the_kid_of_a_key() -> None:
    """Python's public_jwk of a key equals the JWK PHP derives from the same seed."""
    php = require("php")
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    lib = SIGN.parent.parent.parent / "lib"
    code = (
        f"require '{lib}/Token/Base64Url.php'; require '{lib}/Token/SigningKey.php';"
        f"echo json_encode(OCA\\NextPyter\\Token\\SigningKey::fromSeed(hex2bin('{seed.hex()}'), 0)"
        "->publicJwk());"
    )
    done = subprocess.run([php, "-r", code], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == public_jwk(key)


@pytest.mark.parametrize(
    "changes",
    [
        {"sub": "bob"},
        {"path": "../bob/files/secret.ipynb"},
        {"path": "work/other.ipynb"},
        {"profile": "gpu"},
        {"exp": 9_999_999_999},
        {"iat": 0},
        {"nbf": 0},
        {"jti": "A" * 24},
        {"iss": "https://evil.example"},
        {"aud": "another-service"},
        {"purpose": "admin"},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_a_tampered_claim_is_refused(
    app: PhpApp, redis_client: redis_lib.Redis, changes: dict[str, Any]
) -> None:
    signed = app.sign()
    verifier = verifier_for(app, redis_client)
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(with_claims(signed["launch"], **changes))
    assert 400 <= caught.value.status < 500
    # The untouched token still works: a refused forgery did not burn its jti.
    assert verifier.verify(signed["launch"]).user_id == "alice"


def test_a_tampered_admin_token_is_refused(app: PhpApp, redis_client: redis_lib.Redis) -> None:
    signed = app.sign("--scope", "sessions:read")
    verifier = verifier_for(app, redis_client)
    with pytest.raises(TokenRejected) as caught:
        verifier.verify_admin(with_claims(signed["admin"], scopes=["admin"]))
    assert caught.value.code == "token-signature"
    with pytest.raises(TokenRejected) as caught:
        verifier.verify(signed["admin"])
    assert caught.value.code in {"token-claim-missing", "token-purpose"}


def test_a_tampered_header_is_refused(app: PhpApp, redis_client: redis_lib.Redis) -> None:
    signed = app.sign()
    verifier = verifier_for(app, redis_client)
    for changes, code in [
        ({"alg": "HS256"}, "token-algorithm"),
        ({"alg": "none"}, "token-algorithm"),
        ({"kid": "AAAAAAAAAAAAAAAA"}, "token-unknown-key"),
    ]:
        with pytest.raises(TokenRejected) as caught:
            verifier.verify(with_header(signed["launch"], **changes))
        assert caught.value.code == code, changes


def test_a_token_from_another_key_is_refused(app: PhpApp, redis_client: redis_lib.Redis) -> None:
    signed = app.sign()
    verifier = verifier_for(app, redis_client)
    stranger = Ed25519PrivateKey.generate()
    for kid in (signed["kid"], public_jwk(stranger)["kid"]):
        forged = mint_launch_token(stranger, issuer=ISSUER, audience=AUDIENCE, user_id="alice")
        forged = with_header(forged, kid=kid)
        with pytest.raises(TokenRejected) as caught:
            verifier.verify(forged)
        expected = "token-signature" if kid == signed["kid"] else "token-unknown-key"
        assert caught.value.code == expected


def test_after_a_rotation_old_and_new_keys_both_verify(
    app: PhpApp, redis_client: redis_lib.Redis
) -> None:
    clock = Clock()
    before = app.sign()
    verifier = verifier_for(app, redis_client, clock)
    assert verifier.verify(before["launch"]).user_id == "alice"  # the sidecar caches this JWKS

    old_token = app.sign()["launch"]  # the old key, signed just before the rotation
    after = app.sign(rotate=True)
    assert after["kid"] != before["kid"]
    assert [k["kid"] for k in json.loads(after["jwks"])["keys"]] == [after["kid"], before["kid"]]

    # The new kid is unknown to the cached set: the sidecar refetches the JWKS.
    clock.now += MIN_REFRESH_GAP
    assert verifier.verify(after["launch"]).user_id == "alice"
    assert verifier.verify(old_token).user_id == "alice"
    assert sorted(verifier.keys.kids()) == sorted([before["kid"], after["kid"]])


def test_the_settings_the_app_sends_are_what_the_sidecar_parses(app: PhpApp) -> None:
    settings = {
        "profiles": [
            {"name": "0", "cpu": 1, "memory": "2G", "gpu": 0},
            {"name": "gpu-large", "cpu": 8.5, "memory": "64g", "gpu": 2, "pids": 8192},
        ],
        "defaultProfile": "gpu-large",
        "allowedImages": ["registry.example.com/team/scipy:2024.1", "torch:2.3"],
        "defaultImage": "torch:2.3",
        "idleTimeout": 1800,
        "maxLifetime": 86400,
    }
    body = json.loads(app.sign("--settings", json.dumps(settings))["config"])
    config = dynconfig.parse(body)
    assert config.profiles == {
        "0": dynconfig.Profile(cpu=1.0, memory="2g", gpu=0, pids=1024),
        "gpu-large": dynconfig.Profile(cpu=8.5, memory="64g", gpu=2, pids=8192),
    }
    assert config.default_profile == "gpu-large"
    assert config.allowed_images == ("registry.example.com/team/scipy:2024.1", "torch:2.3")
    assert config.default_image == "torch:2.3"
    assert (config.idle_timeout, config.max_lifetime) == (1800, 86400)
    # What the app sends comes back as sent; the sidecar's newer fields (per-profile idle
    # timeout, GPU sharing, the busy limit) keep their defaults until the app sends them.
    newer = {"busy_timeout": 0}
    profile_defaults = {"idle_timeout": 0, "gpu_shared": False}
    expected = {
        **body,
        **newer,
        "profiles": {name: {**p, **profile_defaults} for name, p in body["profiles"].items()},
    }
    assert config.to_dict() == expected

    defaults = dynconfig.parse(json.loads(app.sign()["config"]))
    assert list(defaults.profiles) == ["default"]
    assert defaults.default_image == ""


IMAGE_SAMPLES = [
    "torch:2.3",
    "team/notebook",
    "registry.example.com/team/scipy:2024.1",
    "Registry.Example.com:5000/team/nb:V1_x",
    "localhost/nb",
    "localhost:5000/a/b/c:tag",
    "host:5000/x",
    "x@sha256:" + "a" * 64,
    "x:t@sha256:" + "b" * 64,
    "a__b/c-d.e",
    "a" * 255,
    "a" * 256,
    "",
    "UPPER/case:x",
    "team/../notebook",
    "a..b",
    "team//notebook",
    "notebook/",
    "notebook:",
    "x:1:2",
    "x@sha256:short",
    "x:tâg",
    "x:" + "t" * 129,
    "-x",
    "x y",
    "x\n",
]


def test_the_app_and_the_sidecar_agree_on_image_references() -> None:
    """The admin page's check (PHP) and the sidecar's (the pull queue's contract) take the
    same references, so a list the page accepts is one the sidecar takes."""
    from nextpyter.pullqueue import is_image

    php = require("php")
    validator = SIGN.parent.parent.parent / "lib" / "Config" / "SettingsValidator.php"
    script = (
        "$p = (new ReflectionClassConstant('OCA\\\\NextPyter\\\\Config\\\\SettingsValidator', "
        "'IMAGE_PATTERN'))->getValue(); foreach (json_decode(stream_get_contents(STDIN)) as $i) "
        "{ echo preg_match($p, $i) === 1 ? '1' : '0'; }"
    )
    run = subprocess.run(
        [php, "-r", f"require '{validator}'; {script}"],
        input=json.dumps(IMAGE_SAMPLES),
        capture_output=True,
        text=True,
        check=True,
    )
    php_says = [c == "1" for c in run.stdout.strip()]
    assert php_says == [is_image(i) for i in IMAGE_SAMPLES]
    assert sum(php_says) == 11  # the first eleven are references, the rest are not


PATH_SAMPLES = [
    "",
    ".",
    "a.ipynb",
    "work/analysis.ipynb",
    "a//./b/",
    "Été 2024/Übung 1.ipynb",
    "日本語/ノート.ipynb",
    "emoji 😀.ipynb",
    "no\u00a0break space.ipynb",  # Zs: a space, allowed
    "ideographic\u3000space.ipynb",
    "a/..b/c..",
    "x" * 4096,
    "x" * 4097,
    "../bob/files/x.ipynb",
    "a/../../x",
    "/etc/passwd",
    "a\\b",
    "a\x00b",
    "a\tb",
    "a\nb",
    "a\x7fb",
    "a\x85b",  # NEL (Cc)
    "a\x9bb",  # CSI (Cc)
    "a\u2028b",  # line separator (Zl)
    "a\u2029b",  # paragraph separator (Zp)
    "evil\u202ebynpi.exe",  # right-to-left override (Cf)
    "a\u202ab",  # left-to-right embedding (Cf)
    "a\u2066b",  # left-to-right isolate (Cf)
    "a\u200bb",  # zero-width space (Cf)
    "a\u200db",  # zero-width joiner (Cf)
    "\ufeffa.ipynb",  # byte order mark (Cf)
    "a\u00adb",  # soft hyphen (Cf)
    "a\u061cb",  # Arabic letter mark (Cf)
    "a\U000e0001b",  # language tag (Cf)
]


def test_the_app_and_the_sidecar_agree_on_paths() -> None:
    """The app's PathRules::checkRelative (PHP) and the sidecar's validate_relative_path take
    the same paths and normalise them alike, so a token the app signs is never refused for
    its path, and neither lets a control, format or separator character through."""
    from nextpyter.sidecar.paths import PathRejected, validate_relative_path

    php = require("php")
    files = SIGN.parent.parent.parent / "lib" / "Files"
    script = (
        f"require '{files / 'PathRefused.php'}'; require '{files / 'PathRules.php'}'; $out = []; "
        "foreach (json_decode(stream_get_contents(STDIN)) as $p) { try { $out[] = "
        "OCA\\NextPyter\\Files\\PathRules::checkRelative($p); } catch "
        "(OCA\\NextPyter\\Files\\PathRefused $e) { $out[] = null; } } echo json_encode($out);"
    )
    run = subprocess.run(
        [php, "-r", script],
        input=json.dumps(PATH_SAMPLES),
        capture_output=True,
        text=True,
        check=True,
    )
    php_says = json.loads(run.stdout)

    def sidecar(path: str) -> str | None:
        try:
            return validate_relative_path(path)
        except PathRejected:
            return None

    python_says = [sidecar(p) for p in PATH_SAMPLES]
    assert php_says == python_says
    assert python_says.index(None) == 12  # the first twelve are paths, the rest are not
    assert python_says[12:] == [None] * (len(PATH_SAMPLES) - 12)
