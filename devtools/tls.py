"""Certificates for the development engine's TCP endpoint: a CA, a server and a client
certificate, as Docker-in-Docker makes them (EC P-256)."""

from __future__ import annotations

import ipaddress
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path


def make_certificates(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate authority, a server certificate for ``host`` and a client certificate,
    as Docker's TLS mode wants them: returns (server dir, client dir), each with
    ``ca.pem``, ``cert.pem`` and ``key.pem`` (the client dir is a ``DOCKER_CERT_PATH``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("NextPyter test engine CA"))
        .issuer_name(name("NextPyter test engine CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(common: str, usage: x509.ObjectIdentifier, san: bool) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]),
                critical=False,
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)

    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    parts = {
        "server": issue(host, ExtendedKeyUsageOID.SERVER_AUTH, True),
        "client": issue("nextpyter-sidecar", ExtendedKeyUsageOID.CLIENT_AUTH, False),
    }
    for kind, (cert, key) in parts.items():
        folder = directory / kind
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        (folder / "ca.pem").write_bytes(ca_pem)
        (folder / "cert.pem").write_bytes(cert)
        fd = os.open(folder / "key.pem", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
    return directory / "server", directory / "client"
