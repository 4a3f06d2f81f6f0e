"""A self-signed certificate for serving HTTPS/WSS on 127.0.0.1 and localhost.

Amplify v6 always opens ``wss://`` for a custom endpoint, so the browser client needs TLS.
The certificate is generated once into ``<state_dir>/tls/`` and reused while it is valid
for at least another day. It is its own CA (so a client can trust it with ``cafile=``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY: Final = dt.timedelta(days=365)
RENEW_BEFORE: Final = dt.timedelta(days=1)
DNS_NAMES: Final = ("localhost",)
IP_ADDRESSES: Final = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    cert_path: Path
    key_path: Path


def ensure_self_signed_cert(state_dir: Path) -> TlsFiles:
    """Returns the certificate and key in ``state_dir/tls``, creating them if needed."""
    tls_dir = Path(state_dir) / "tls"
    files = TlsFiles(tls_dir / "cert.pem", tls_dir / "key.pem")
    if _usable(files):
        return files
    tls_dir.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CloudChat local stack"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in DNS_NAMES]
    alt_names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in IP_ADDRESSES]
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(files.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_bytes)
    files.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files


def _usable(files: TlsFiles) -> bool:
    if not (files.cert_path.is_file() and files.key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(files.cert_path.read_bytes())
        serialization.load_pem_private_key(files.key_path.read_bytes(), password=None)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    ips = {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}
    names = set(sans.get_values_for_type(x509.DNSName))
    if not (set(IP_ADDRESSES) <= ips and set(DNS_NAMES) <= names):
        return False
    return cert.not_valid_after_utc - dt.datetime.now(dt.UTC) > RENEW_BEFORE
