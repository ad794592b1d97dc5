"""TLS for clients that insist on it: a given certificate, or a self-signed one made here.

The ``cryptography`` package makes the self-signed certificate: the standard library can
verify certificates but not issue them. A generated certificate is written to a private
temporary directory for as long as the emulator runs, so every worker serves the same one
and its path can be printed for clients to trust.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import socket
import ssl
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit


from ._config import Config, ConfigError

#: Names every generated certificate covers, so local clients verify it as it is.
LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
#: Emulator decision: a generated certificate is valid from a day before it is made (clock
#: skew between containers) for a year; it is made anew at every start.
VALID_BEFORE = dt.timedelta(days=1)
VALID_FOR = dt.timedelta(days=365)
COMMON_NAME = "image-search-emulator"


@dataclass(frozen=True)
class KeyPair:
    """PEM bytes of a certificate (chain) and its key, and the files they were read from."""

    cert_pem: bytes
    key_pem: bytes
    cert_path: Path
    key_path: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_path, self.key_path)
        return context


def load(cert_path: Path, key_path: Path) -> KeyPair:
    """A given pair, checked now so that a bad file stops start-up with its name."""
    try:
        cert_pem, key_pem = cert_path.read_bytes(), key_path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"TLS: cannot read {exc.filename}: {exc.strerror}") from None
    pair = KeyPair(cert_pem, key_pem, cert_path, key_path)
    try:
        pair.server_context()
    except ssl.SSLError as exc:
        raise ConfigError(f"TLS: {cert_path} and {key_path} are not a PEM certificate and "
                          f"its private key: {exc.reason or exc}") from None
    return pair


def certificate_names(config: Config) -> list[str]:
    """Local names, the listening host, the public URL's host, this machine's name (a
    container's, in compose and Kubernetes) and any configured extra names."""
    names = list(LOCAL_NAMES)
    if config.host and config.host not in ("0.0.0.0", "::"):
        names.append(config.host)
    if config.public_base_url:
        names.append(urlsplit(config.public_base_url).hostname or "")
    names.append(socket.gethostname())
    names.extend(config.tls_names)
    return list(dict.fromkeys(n for n in names if n))


def _general_name(name: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def self_signed_pem(names: list[str], now: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """(certificate, key) PEM: an ECDSA P-256 server certificate for ``names``, its own
    issuer, with the extensions strict verifiers (OpenSSL's X509_STRICT, Go) ask for."""
    # imported here: most runs have no TLS, and cryptography takes 45 ms to import
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = now or dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    public = key.public_key()
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - VALID_BEFORE).not_valid_after(now + VALID_FOR)
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class GeneratedFiles:
    """A self-signed pair on disk (``cert.pem``, ``key.pem``) until :meth:`remove`."""

    def __init__(self, names: list[str]) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="image-search-emulator-tls-"))  # 0700
        cert_pem, key_pem = self_signed_pem(names)
        self.cert_path = self.directory / "cert.pem"
        self.key_path = self.directory / "key.pem"
        self.cert_path.write_bytes(cert_pem)
        self.key_path.touch(mode=0o600)
        self.key_path.write_bytes(key_pem)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def with_certificate(config: Config) -> tuple[Config, GeneratedFiles | None]:
    """The config with certificate files to serve: as given, or freshly generated (the
    caller removes them when done). A config without TLS is returned as it is."""
    if not config.tls_enabled or config.tls_cert is not None:
        return config, None
    files = GeneratedFiles(certificate_names(config))
    return replace(config, tls=True, tls_cert=files.cert_path, tls_key=files.key_path), files
