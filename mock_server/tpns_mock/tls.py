"""HTTPS for apps that cannot be pointed at plain HTTP: a local CA and a certificate it signs.

Apps whose SDK or configuration hard-codes ``https://api.tpns.tencent.com`` (or a region's
host) reach the mock under that name once a hosts entry, ``curl --resolve`` or a compose
network alias sends them there; they then need a certificate for that name, signed by a CA they
trust. The CA is made once per TLS dir (``<data-dir>/tls`` by default) and reused on every
start, so a trust set up once survives restarts. The server certificate is issued afresh on each
start, because the names it must cover come from the settings and may change.

Files in the TLS dir: ``ca.pem`` (the certificate to trust, also served at ``/_mock/ca.pem``),
``ca-key.pem``, ``server.pem`` and ``server-key.pem`` (keys readable by the owner only).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from tpns_client.protocol.paths import REGIONS

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
CERT_FILE = "server.pem"
KEY_FILE = "server-key.pem"
# the service's name in docker-compose.yml: other containers of the project reach it by it
COMPOSE_SERVICE_NAME = "tpns-mock"
TENCENT_HOSTS: tuple[str, ...] = tuple(str(urlsplit(url).hostname) for url in REGIONS.values())
DEFAULT_NAMES: tuple[str, ...] = (
    "localhost",
    "127.0.0.1",
    "::1",
    *TENCENT_HOSTS,
    COMPOSE_SERVICE_NAME,
)
CA_VALIDITY = dt.timedelta(days=3650)
# within the 398 days some clients (Apple's, browsers) allow a server certificate
CERT_VALIDITY = dt.timedelta(days=397)
CLOCK_SKEW = dt.timedelta(hours=1)  # valid from a little before now: clocks differ
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


class TLSError(ValueError):
    """The TLS files cannot be made or read; the message names the file and what to do."""


def check_name(name: str) -> str:
    """``name`` as a certificate will hold it (lowercase), or a ValueError naming the rule.

    An IP address, or a DNS name: labels of letters, digits and hyphens (not at either end), 1 to
    63 characters each, 253 in all, optionally behind one leading ``*.`` wildcard label. No
    underscores: not a hostname character, and clients differ (Java's ``URI`` finds no host in
    ``https://a_b.test`` and its SNI refuses the name, where OpenSSL matches it). No
    internationalized names in Unicode (write them in their ``xn--`` form).
    """
    text = name.strip()
    if not text:
        raise ValueError("an empty name")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    dns = text.lower().removesuffix(".")
    labels = dns.split(".")
    if labels[0] == "*" and len(labels) > 2:
        labels = labels[1:]
    if len(dns) > 253:
        raise ValueError(f"{name!r} is not a DNS name: longer than 253 characters")
    for label in labels:
        if not _LABEL.match(label):
            raise ValueError(
                f"{name!r} is not a DNS name: each label must be 1 to 63 letters, digits or"
                " hyphens, not starting or ending with a hyphen"
                + (
                    " (write an internationalized name in its xn-- form)"
                    if not name.isascii()
                    else ""
                )
            )
    return dns


def parse_names(text: str, origin: str) -> tuple[str, ...]:
    """Comma-separated names (the ``TPNS_MOCK_TLS_HOSTS`` format), each checked."""
    names = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            names.append(check_name(part))
        except ValueError as exc:
            raise ValueError(f"{origin}: {exc}") from None
    return tuple(names)


def certificate_names(extra: Iterable[str] = ()) -> tuple[str, ...]:
    """Every name the server certificate covers: the defaults, then ``extra``, once each."""
    return tuple(dict.fromkeys((*DEFAULT_NAMES, *extra)))


@dataclass(frozen=True)
class ServerFiles:
    """What uvicorn needs to serve HTTPS, and the CA a client trusts."""

    ca: Path
    cert: Path
    key: Path


def prepare(tls_dir: Path, names: Iterable[str]) -> ServerFiles:
    """Load (or make, the first time) the CA in ``tls_dir`` and issue a server certificate for
    ``names`` signed by it. Any failure is a :class:`TLSError` that names the dir."""
    tls_dir = Path(tls_dir)
    try:
        tls_dir.mkdir(parents=True, exist_ok=True)
        ca_cert, ca_key = _load_or_make_ca(tls_dir)
        cert, key = _issue(ca_cert, ca_key, list(names))
        _write(tls_dir / KEY_FILE, _key_pem(key), private=True)
        _write(tls_dir / CERT_FILE, cert.public_bytes(serialization.Encoding.PEM))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise TLSError(
            f"cannot create or read the TLS files in {str(tls_dir)!r}: {reason}"
            " (choose a writable dir with --tls-dir / TPNS_MOCK_TLS_DIR)"
        ) from None
    return server_files(tls_dir)


def server_files(tls_dir: Path) -> ServerFiles:
    """Where :func:`prepare` puts the files (what a worker serves once its supervisor has)."""
    tls_dir = Path(tls_dir)
    return ServerFiles(tls_dir / CA_FILE, tls_dir / CERT_FILE, tls_dir / KEY_FILE)


def _load_or_make_ca(tls_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    ca_path, key_path = tls_dir / CA_FILE, tls_dir / CA_KEY_FILE
    if ca_path.exists() or key_path.exists():
        try:
            cert = x509.load_pem_x509_certificate(ca_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError, FileNotFoundError) as exc:
            raise TLSError(
                f"the CA in {str(tls_dir)!r} cannot be read ({exc}); remove {CA_FILE} and"
                f" {CA_KEY_FILE} to make a new one (clients must then trust the new {CA_FILE})"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != (
            cert.public_key()
        ):
            raise TLSError(
                f"{CA_KEY_FILE} in {str(tls_dir)!r} is not the key of {CA_FILE}; remove both to"
                " make a new CA"
            )
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "tpns-mock"),
            # unique, so two mocks' CAs are told apart in a trust store
            x509.NameAttribute(NameOID.COMMON_NAME, f"tpns-mock local CA {secrets.token_hex(4)}"),
        ]
    )
    now = dt.datetime.now(dt.timezone.utc)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    # the key first: a ca.pem without its key is refused on the next start
    _write(key_path, _key_pem(key), private=True)
    _write(ca_path, cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _issue(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, names: list[str]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for name in names:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(now + CERT_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write whole or not at all (a reader never sees half a file); keys for the owner only."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
